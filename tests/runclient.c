/*
 * runclient: the program tests/test_run_refuse.sh starts under `netcore run`, built dynamic,
 * static and static-pie. Usage: runclient MARK IP PORT FILE — creates MARK (so the test can
 * tell that it ran at all), connects to IP:PORT, sends FILE's bytes and closes. The server
 * sees which stack the connection came from by its address.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static int fail(const char *what)
{
    perror(what);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: runclient MARK IP PORT FILE\n");
        return 2;
    }
    int mark = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (mark < 0)
        return fail(argv[1]);
    close(mark);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[3])) };
    if (inet_pton(AF_INET, argv[2], &a.sin_addr) != 1) {
        fprintf(stderr, "runclient: bad address %s\n", argv[2]);
        return 2;
    }
    int in = open(argv[4], O_RDONLY);
    if (in < 0)
        return fail(argv[4]);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return fail("socket");
    if (connect(s, (struct sockaddr *)&a, sizeof(a)) != 0)
        return fail("connect");
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(s, buf + off, (size_t)(n - off));
            if (w < 0)
                return fail("write");
            off += w;
        }
    if (n < 0)
        return fail("read");
    return close(s) == 0 ? 0 : fail("close");
}
