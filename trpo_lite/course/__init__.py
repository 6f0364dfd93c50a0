"""Course support: what the notebooks use beyond the algorithm core, grouped by chapter.

The core (``trpo_lite.mlp``, ``policies``, ``fisher``, ``cg``, ``linesearch``, ``rollout``,
``value``, ``algos``, ``train``, ``mdp``, ...) never imports this package.

Shared by several notebooks:

    checking          the self-check engine: run a student's function on cases, compare it
                      with the reference, name the mistake; central differences (02, 05, 07)
    figures           the running example's map, paths, the KL ball's contour and ellipse,
                      learning curves with the solve line, colours
    explorer          the explorers' widget: figure built once, only what moves redrawn,
                      neighbouring views prefetched; a static picture before a kernel runs
    running_example   the two-state example of 01-03, 06, 07: exact J, grad J, Fisher, KL,
                      surrogate; vanilla and natural paths; one exact TRPO step
    ppo_example       PPO's clipped objective per sample and exactly on the example (07)

One chapter each (self-checks of the exercises, one-off figures, the explorer):

    ch01              01 policy gradient: score, returns-to-go, REINFORCE; learning-rate explorer
    ch02              02 KL and Fisher: KL, Fisher, empirical Fisher; KL-ball explorer
    ch03              03 natural gradient: natural step checks; reparametrisation, NPG KL figures
    ch04              04 conjugate gradient: CG, Fisher-vector product; CG-vs-steepest-descent explorer
    ch05              05 monotonic improvement: tabular checks; bound and MM figures
    ch05_explorer     05 monotonic improvement: MM at a scaled penalty s C; penalty-scale explorer
    ch06_checks       06 TRPO: line search, full step, accept/reject checks
    ch06_figures      06 TRPO: line-search table, training and data/ figures; line-search explorer
    ch07_checks       07 beyond TRPO: clipped objective, its gradient weights, Gaussian KL checks
    ch07_figures      07 beyond TRPO: PPO objective, clip box, data/ figures
"""
