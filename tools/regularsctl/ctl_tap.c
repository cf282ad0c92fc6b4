/*
 * ctl_tap.c - `regularsctl tap`: drive a sim reader (hal/reader/reader_sim.c)
 * as if a card, tag or code had been presented. Sends one protocol line
 * (docs/sim-reader.md) to the reader's socket and prints its reply. It only
 * checks what would break the line framing; the reader validates the rest.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "hal/reader.h"

#include "ctl.h"

int ctl_tap_main(int argc, char **argv);

static void tap_usage(FILE *f)
{
	char def[128];
	if (hal_reader_sim_default_path(def, sizeof def) < 0)
		snprintf(def, sizeof def, "(too long)");
	fprintf(f,
		"usage: regularsctl tap [--socket PATH] nfc HEXUID\n"
		"       regularsctl tap [--socket PATH] ndef HEXMESSAGE [HEXUID]\n"
		"       regularsctl tap [--socket PATH] barcode|qr|mag TEXT\n"
		"       regularsctl tap [--socket PATH] ping\n\n"
		"Present a card, tag or code to a simulated reader (the `sim` reader\n"
		"backend) and print its reply: \"ok\", or \"err <reason>\".\n\n"
		"  nfc HEXUID        an NFC card's UID, 1-10 bytes (04A1B2C3)\n"
		"  ndef HEXMESSAGE   a raw NDEF message read from a tag, up to 1024 bytes\n"
		"  barcode TEXT      text from a barcode scanner (quote spaces)\n"
		"  qr TEXT           text from a 2D code\n"
		"  mag TEXT          magnetic stripe track text\n"
		"  ping              check that the reader is listening\n\n"
		"options:\n"
		"  -s, --socket PATH the reader's socket (default %s:\n"
		"                    $XDG_RUNTIME_DIR/regulars/reader.sock, else\n"
		"                    /run/regulars/reader.sock)\n"
		"  -h, --help        this text\n\n"
		"exit status: 0 ok, 1 refused by the reader or not reachable, 2 usage\n"
		"The protocol is in docs/sim-reader.md.\n",
		def);
}

static int has_line_break(const char *s)
{
	return strchr(s, '\n') || strchr(s, '\r');
}

/* Connect, send, and read one reply line within 5 s. Returns 0 or -1 with a
 * message already printed. */
static int exchange(const char *path, const char *line, size_t len, char *reply, size_t cap)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = 0, plen = strlen(path);
	int fd;

	if (plen >= sizeof sa.sun_path) {
		fprintf(stderr, "regularsctl tap: socket path too long: %s\n", path);
		return -1;
	}
	memcpy(sa.sun_path, path, plen + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		fprintf(stderr, "regularsctl tap: cannot connect to %s: %s\n", path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while (len) {
		ssize_t w = send(fd, line, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			fprintf(stderr, "regularsctl tap: send to %s: %s\n", path, strerror(errno));
			close(fd);
			return -1;
		}
		line += w;
		len -= (size_t)w;
	}
	while (n + 1 < cap) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t r;
		if (poll(&p, 1, 5000) <= 0) {
			fprintf(stderr, "regularsctl tap: no reply from %s\n", path);
			close(fd);
			return -1;
		}
		r = read(fd, reply + n, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fprintf(stderr, "regularsctl tap: %s closed the connection\n", path);
			close(fd);
			return -1;
		}
		if (reply[n] == '\n')
			break;
		n++;
	}
	reply[n] = '\0';
	close(fd);
	return 0;
}

int ctl_tap_main(int argc, char **argv)
{
	static const struct {
		const char *kind;
		int min, max; /* values after the kind */
	} kinds[] = {{"nfc", 1, 1}, {"ndef", 1, 2}, {"barcode", 1, 1},
		     {"qr", 1, 1},  {"mag", 1, 1},  {"ping", 0, 0}};
	char def[128], line[8192], reply[256];
	const char *path = NULL;
	int i = 1, k = -1, nvals, len;

	for (; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			tap_usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "-s") || !strcmp(argv[i], "--socket")) {
			if (++i == argc)
				return ctl_usage_error("tap", "--socket needs a path");
			path = argv[i];
		} else if (!strncmp(argv[i], "--socket=", 9)) {
			path = argv[i] + 9;
		} else if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return ctl_usage_error("tap", "unknown option");
		} else {
			break;
		}
	}
	if (i == argc)
		return ctl_usage_error("tap",
				       "what to present? nfc, ndef, barcode, qr, mag or ping");
	for (size_t j = 0; j < sizeof kinds / sizeof kinds[0]; j++)
		if (!strcmp(argv[i], kinds[j].kind))
			k = (int)j;
	if (k < 0)
		return ctl_usage_error("tap", "unknown kind (nfc, ndef, barcode, qr, mag, ping)");
	nvals = argc - i - 1;
	if (nvals < kinds[k].min || nvals > kinds[k].max)
		return ctl_usage_error("tap", nvals < kinds[k].min ? "missing value"
								   : "too many values (quote text "
								     "with spaces)");
	len = snprintf(line, sizeof line, "%s", kinds[k].kind);
	for (int v = i + 1; v < argc; v++) {
		if (has_line_break(argv[v]))
			return ctl_usage_error("tap", "a value cannot contain a line break");
		len += snprintf(line + len, sizeof line - (size_t)len, " %s", argv[v]);
		if ((size_t)len >= sizeof line - 1)
			return ctl_usage_error("tap", "value too long");
	}
	line[len++] = '\n';
	if (!path || !*path) {
		if (hal_reader_sim_default_path(def, sizeof def) < 0) {
			fprintf(stderr,
				"regularsctl tap: default socket path too long; use --socket\n");
			return 1;
		}
		path = def;
	}
	if (exchange(path, line, (size_t)len, reply, sizeof reply) < 0)
		return 1;
	printf("%s\n", reply);
	if (!strcmp(reply, "ok"))
		return 0;
	return 1;
}
