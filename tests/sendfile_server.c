/*
 * sendfile_server — a minimal HTTP/1.0 file server that sends its file with sendfile(), built
 * with _FILE_OFFSET_BITS=64 like large-file-aware servers, so glibc's headers make that call
 * sendfile64 (tests/test_prog_sendfile.sh checks the binary's dynamic symbols). It serves FILE
 * to every connection: reads the request head, answers 200 with Content-Length, sends the
 * body in sendfile64 calls of at most 1 MiB, closes. It writes "listening PORT" to stdout once
 * it listens.
 *
 * usage: sendfile_server PORT FILE
 */
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads until the blank line that ends the request head; false on EOF or error. */
static int read_head(int c)
{
    char buf[4096];
    size_t got = 0;
    while (got < sizeof(buf)) {
        ssize_t n = read(c, buf + got, sizeof(buf) - got);
        if (n <= 0)
            return 0;
        got += (size_t)n;
        if (memmem(buf, got, "\r\n\r\n", 4) != NULL)
            return 1;
    }
    return 0;
}

static void serve(int c, int fd, off_t size)
{
    char head[128];
    int len = snprintf(head, sizeof(head),
                       "HTTP/1.0 200 OK\r\nContent-Length: %lld\r\n\r\n", (long long)size);
    if (!read_head(c) || write(c, head, (size_t)len) != len)
        return;
    off_t off = 0;
    while (off < size) {
        size_t want = size - off < (1 << 20) ? (size_t)(size - off) : (1 << 20);
        ssize_t n = sendfile(c, fd, &off, want);
        if (n <= 0) {
            perror("sendfile_server: sendfile64");
            return;
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s PORT FILE\n", argv[0]);
        return 2;
    }
    int fd = open(argv[2], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        perror(argv[2]);
        return 1;
    }
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])) };
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(s, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(s, 8) != 0) {
        perror("sendfile_server: bind/listen");
        return 1;
    }
    printf("listening %s\n", argv[1]);
    fflush(stdout);
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0) {
            perror("sendfile_server: accept");
            return 1;
        }
        serve(c, fd, st.st_size);
        close(c);
    }
}
