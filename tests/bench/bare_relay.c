/* The floor of any proxy, for bench.py --floor: a bare TCP relay.

   Each accepted client gets its own connection to PostgreSQL, and every byte read from one
   side is written to the other with one recv and one send, on one thread, from one
   level-triggered epoll loop. It parses nothing, pools nothing, keeps no timers and logs
   nothing: the CPU it spends per transaction is the kernel's work of moving each message
   through a user-space process (the loopback TCP stack, waking the peer, the process's own
   sleeps) plus almost nothing else. A pooler cannot spend less per transaction on the same
   machine unless it makes fewer system calls per message than one recv and one send.

   A measuring tool, not a proxy: a connection whose peer cannot take its bytes at once is
   waited for with poll(), which stalls every other connection meanwhile (pgbench's answers
   are far smaller than a socket buffer, so it never happens in the benchmark).

   usage: bare_relay LISTEN_PORT POSTGRES_PORT   (both on 127.0.0.1) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { MAX_FD = 65536 };
static int peer_of[MAX_FD];

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return address;
}

/* Both proxies set TCP_NODELAY on every connection; so does this one. */
static void no_delay(int fd) {
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

static void watch(int epoll, int fd) {
    struct epoll_event event = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
}

static void pair_new_client(int epoll, int listener, int postgres_port) {
    int client = accept4(listener, NULL, NULL, SOCK_NONBLOCK);
    if (client < 0) return;
    int server = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = loopback(postgres_port);
    if (client >= MAX_FD || server < 0 || server >= MAX_FD ||
        connect(server, (struct sockaddr*)&address, sizeof address) != 0) {
        close(client);
        if (server >= 0) close(server);
        return;
    }
    if (fcntl(server, F_SETFL, O_NONBLOCK) != 0) perror("fcntl");
    no_delay(client);
    no_delay(server);
    peer_of[client] = server;
    peer_of[server] = client;
    watch(epoll, client);
    watch(epoll, server);
}

/* Writes all of it; false when the peer is gone. */
static int send_all(int fd, const char* bytes, size_t length) {
    while (length > 0) {
        ssize_t sent = send(fd, bytes, length, MSG_NOSIGNAL);
        if (sent < 0 && errno == EAGAIN) {
            struct pollfd writable = {.fd = fd, .events = POLLOUT};
            poll(&writable, 1, -1);
            continue;
        }
        if (sent <= 0) return 0;
        bytes += sent;
        length -= (size_t)sent;
    }
    return 1;
}

static void relay_from(int fd) {
    static char buffer[65536];
    if (peer_of[fd] < 0) return; /* closed earlier in this batch of events */
    ssize_t got = recv(fd, buffer, sizeof buffer, 0);
    if (got < 0 && errno == EAGAIN) return;
    if (got <= 0 || !send_all(peer_of[fd], buffer, (size_t)got)) {
        /* Closing both ends also takes them out of the epoll set. */
        int peer = peer_of[fd];
        peer_of[fd] = peer_of[peer] = -1;
        close(peer);
        close(fd);
    }
}

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s LISTEN_PORT POSTGRES_PORT\n", argv[0]);
        return 2;
    }
    int postgres_port = atoi(argv[2]);
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    int on = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in address = loopback(atoi(argv[1]));
    if (bind(listener, (struct sockaddr*)&address, sizeof address) != 0 || listen(listener, 4096) != 0) {
        perror("bare_relay: listen");
        return 1;
    }
    int epoll = epoll_create1(0);
    watch(epoll, listener);
    struct epoll_event ready[256];
    for (;;) {
        int count = epoll_wait(epoll, ready, 256, -1);
        for (int i = 0; i < count; ++i) {
            if (ready[i].data.fd == listener)
                pair_new_client(epoll, listener, postgres_port);
            else
                relay_from(ready[i].data.fd);
        }
    }
}
