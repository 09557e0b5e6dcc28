#!/bin/sh
# nats-server, tethered to the process that starts it: setpriv sets the parent-death signal
# (prctl PR_SET_PDEATHSIG), so the kernel SIGKILLs the server as soon as the orchestrator is gone, however
# it went (even SIGKILL, where no exit handler runs). exec keeps a single process: its pid is the server's,
# and SIGTERM from a clean shutdown reaches the server itself.
exec setpriv --pdeathsig KILL -- "${NATS_SERVER_BIN:-nats-server}" "$@"
