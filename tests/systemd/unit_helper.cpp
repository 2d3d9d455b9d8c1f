// A static program for the container image of the unit tests (units_test.cpp); the
// image has no libc of its own. Modes:
//   unit-helper ready-after SECONDS   sleep, send READY=1, STATUS=serving and a forged
//                                     MAINPID=1 to $NOTIFY_SOCKET, then wait for SIGTERM
//   unit-helper wait                  wait for SIGTERM, then exit 0
//   unit-helper serve                 answer each connection on the socket-activated
//                                     fd 3 with "fds=N names=NAMES pid-ok=yes|no"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace {

int send_notification(const char* message) {
  const char* path = getenv("NOTIFY_SOCKET");
  if (path == nullptr) {
    fprintf(stderr, "unit-helper: no NOTIFY_SOCKET\n");
    return 1;
  }
  int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  struct sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  strncpy(address.sun_path, path, sizeof address.sun_path - 1);
  if (sendto(fd, message, strlen(message), 0, reinterpret_cast<struct sockaddr*>(&address),
             sizeof address) < 0) {
    perror("unit-helper: sendto NOTIFY_SOCKET");
    return 1;
  }
  close(fd);
  return 0;
}

void ignore(int) {}

int wait_for_term() {
  // As the container's PID 1 the process only gets signals it has a handler for.
  signal(SIGTERM, ignore);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  int received = 0;
  sigwait(&set, &received);
  printf("unit-helper: stopping on SIGTERM\n");
  return 0;
}

int serve() {
  const char* names = getenv("LISTEN_FDNAMES");
  const char* fds = getenv("LISTEN_FDS");
  const char* pid = getenv("LISTEN_PID");
  bool pid_ok = pid != nullptr && atoi(pid) == getpid();
  for (;;) {
    int connection = accept(3, nullptr, nullptr);
    if (connection < 0) {
      perror("unit-helper: accept on fd 3");
      return 1;
    }
    dprintf(connection, "fds=%s names=%s pid-ok=%s\n", fds ? fds : "", names ? names : "",
            pid_ok ? "yes" : "no");
    close(connection);
  }
}

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  if (argc == 3 && strcmp(argv[1], "ready-after") == 0) {
    sleep(static_cast<unsigned>(atoi(argv[2])));
    if (send_notification("READY=1\nSTATUS=serving\nMAINPID=1") != 0) return 1;
    return wait_for_term();
  }
  if (argc == 2 && strcmp(argv[1], "wait") == 0) return wait_for_term();
  if (argc == 2 && strcmp(argv[1], "serve") == 0) return serve();
  fprintf(stderr, "usage: unit-helper ready-after SECONDS | wait | serve\n");
  return 2;
}
