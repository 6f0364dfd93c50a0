"""pytest configuration for the nbval run over the notebooks (`make test`).

Work-around for nbval 0.11 with IPython 9: nbval executes cells with
store_history=False, and IPython only lets a trailing ';' silence a cell's result
when the cell is stored in history. Under nbval `plt.plot(...);` would then still
emit an execute_result and fail strict comparison (nbval #194, IPython #14162).
Executing with store_history=True, as JupyterLab does, fixes it.
"""
try:
    import nbval.kernel as _nbval_kernel
except ImportError:  # nbval not installed: nothing to patch
    _nbval_kernel = None

if _nbval_kernel is not None:
    def _execute_cell_input(self, cell_input, allow_stdin=None):
        return self.kc.execute(cell_input, store_history=True,
                               allow_stdin=allow_stdin, stop_on_error=False)

    _nbval_kernel.RunningKernel.execute_cell_input = _execute_cell_input
