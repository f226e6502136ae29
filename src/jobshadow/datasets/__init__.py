"""From recordings to training-ready trajectories: action reduction, observations, tasks, exports."""
