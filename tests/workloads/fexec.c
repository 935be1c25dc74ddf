/*
 * fexec FILE ARGV0 [ARG...]: runs FILE through fexecve(), which glibc makes execveat(fd, "", AT_EMPTY_PATH): the
 * exec names the file /dev/fd/N (sched_process_exec's filename), and since Linux 6.14 (543841d18060) the new comm is
 * the file's name, not "N". The comms test records it (docs/trace-formats.md, "Where comm comes from").
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: fexec FILE ARGV0 [ARG...]\n");
		return 2;
	}
	int fd = open(argv[1], O_RDONLY);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	fexecve(fd, argv + 2, environ);
	perror("fexecve");
	return 1;
}
