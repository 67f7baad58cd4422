"""The `automodal` command: a mode first, then key=value options (automodal train proj=demo task_list=[churn]).

Each mode's YAML (conf/mode/) names the scheduler class whose run() carries out the mode's subroutines inside a
project workspace (workspace.Project) as a resumable run (runs.Run)."""
