/**
 * Exit codes of `collab node start`, for supervisors (README "Exit codes and restarts"):
 *
 *   0    stopped on SIGINT / SIGTERM (checkpoint on disk)
 *   1    could not start: config, data, identity, port (fix the cause; a restart alone will not help)
 *   2    usage error (bad flags)
 *   3    training failed for good (consensus stopped, a peer with the same identity, ...):
 *        the node stopped its API and exited so that a supervisor restarts it; on restart it
 *        resumes from its checkpoint and rejoins (systemd Restart=on-failure, Docker
 *        --restart on-failure)
 *   130  a second signal forced the exit
 */
export const EXIT_STOPPED = 0
export const EXIT_START_FAILED = 1
export const EXIT_TRAINING_FAILED = 3
export const EXIT_FORCED = 130
