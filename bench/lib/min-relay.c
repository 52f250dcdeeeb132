/*
 * The least a CONNECT relay can do, as a reference for the proxy benchmark: accept, read the
 * CONNECT line, dial the IP literal it names, answer 200, then copy bytes both ways with read(2)
 * and write(2) through one 256 KiB buffer until either side ends. No policy, no records, no
 * parsing beyond the request line, one tunnel at a time. What this gets through a tunnel is the
 * ceiling for any relay on the machine it runs on; fairwatch and Squid are measured against it.
 * Loopback only: it listens on 127.0.0.1 and dials only 127.x addresses.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char buf[256 * 1024];

/* writes all of n bytes to a non-blocking socket; 0 when the peer has gone */
static int write_all(int to, const char *p, ssize_t n) {
  while (n > 0) {
    ssize_t m = write(to, p, (size_t)n);
    if (m < 0 && errno == EAGAIN) {
      struct pollfd w = {to, POLLOUT, 0};
      poll(&w, 1, -1);
      continue;
    }
    if (m <= 0) return 0;
    p += m;
    n -= m;
  }
  return 1;
}

static void relay(int a, int b) {
  for (;;) {
    struct pollfd f[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    if (poll(f, 2, -1) < 0) return;
    for (int i = 0; i < 2; i++) {
      if (!f[i].revents) continue;
      ssize_t n = read(f[i].fd, buf, sizeof buf);
      if (n < 0 && errno == EAGAIN) continue;
      if (n <= 0 || !write_all(i ? a : b, buf, n)) return;
    }
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: min-relay PORT\n");
    return 2;
  }
  int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in at = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(l, (struct sockaddr *)&at, sizeof at) || listen(l, 16)) {
    perror("min-relay: listen");
    return 1;
  }
  printf("listening\n");
  fflush(stdout);
  for (;;) {
    int c = accept(l, NULL, NULL);
    if (c < 0) continue;
    char req[4096];
    size_t n = 0;
    while (n < sizeof req - 1) {
      ssize_t m = read(c, req + n, sizeof req - 1 - n);
      if (m <= 0) break;
      n += (size_t)m;
      req[n] = 0;
      if (strstr(req, "\r\n\r\n")) break;
    }
    req[n] = 0;
    char host[64];
    int port;
    struct sockaddr_in to = {.sin_family = AF_INET};
    int u = -1;
    if (sscanf(req, "CONNECT %63[0-9.]:%d ", host, &port) == 2 && inet_pton(AF_INET, host, &to.sin_addr) == 1 &&
        (ntohl(to.sin_addr.s_addr) >> 24) == 127 && port > 0 && port < 65536) {
      to.sin_port = htons((uint16_t)port);
      u = socket(AF_INET, SOCK_STREAM, 0);
      if (connect(u, (struct sockaddr *)&to, sizeof to) != 0) {
        close(u);
        u = -1;
      }
    }
    if (u < 0) {
      write_all(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n", 47);
      close(c);
      continue;
    }
    write_all(c, "HTTP/1.1 200 Connection established\r\n\r\n", 39);
    fcntl(c, F_SETFL, O_NONBLOCK);
    fcntl(u, F_SETFL, O_NONBLOCK);
    relay(c, u);
    close(c);
    close(u);
  }
}
