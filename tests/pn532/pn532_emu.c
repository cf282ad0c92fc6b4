/*
 * pn532_emu.c - a PN532 emulator on a pseudo-terminal, so libnfc's real
 * pn532_uart driver (and the HAL's libnfc reader above it) runs in tests
 * without hardware. It answers the commands libnfc sends to open a device,
 * poll ISO14443A/B and read NFC Forum Type 2 / Type 4 tags, and presents the
 * cards a test asks for on stdin. Test tooling only: not a complete PN532.
 */
#define _XOPEN_SOURCE 700 /* posix_openpt, ptsname */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: pn532_emu --link PATH [--verbose]\n"
    "\n"
    "Opens a pseudo-terminal that behaves like a PN532 on a UART and keeps PATH\n"
    "a symlink to its slave, so libnfc can open it as pn532_uart:PATH.\n"
    "Prints 'ready <slave>' on stdout, then reads commands on stdin, one per\n"
    "line, and answers each with 'ok' or 'err <reason>':\n"
    "  card a <uid hex>          ISO14443A card: 4-byte UID = MIFARE Classic 1K,\n"
    "                            7/10-byte UID = unformatted Type 2 tag\n"
    "  card b <pupi hex>         ISO14443B card (4-byte PUPI)\n"
    "  tag2 <uid hex> <ndef hex> NFC Forum Type 2 tag holding that NDEF message\n"
    "  tag4 <uid hex> <ndef hex> NFC Forum Type 4 tag (ISO-DEP) holding it\n"
    "  remove                    take the card away\n"
    "  wait_empty_poll           answer once the host polled an empty field\n"
    "  wait_cmds <n>             answer once the host sent n more commands\n"
    "  stall <ms>                read nothing from the host for ms milliseconds\n"
    "                            (a chip that is busy or late): its commands wait\n"
    "                            in the pty and are answered, in order, after it\n"
    "  quit                      remove PATH and exit\n";

/* ---- the card in the field ---- */

enum card_kind { CARD_NONE, CARD_MFC, CARD_T2, CARD_T4, CARD_B };

#define UID_MAX 10
#define NDEF_MAX 4096
#define T2_PAGES_MAX 256 /* 1 KiB, NTAG216 has 231 */
#define T4_FILE_MAX (NDEF_MAX + 2)

struct card {
	enum card_kind kind;
	uint8_t uid[UID_MAX];
	size_t uid_len;
	bool selected; /* answered an anticollision since it entered the field */
	uint8_t t2[T2_PAGES_MAX * 4];
	size_t t2_pages;
	uint8_t t4_ndef[T4_FILE_MAX]; /* NLEN || message */
	size_t t4_ndef_len;
	bool t4_app;
	int t4_file; /* 0 none, 1 CC, 2 NDEF */
};

static struct card card;
static bool verbose;
static unsigned long host_cmds;
static unsigned long empty_polls;
static uint8_t regs[65536];
static char link_path[PATH_MAX];

static void vlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void vlog(const char *fmt, ...)
{
	va_list ap;
	if (!verbose)
		return;
	va_start(ap, fmt);
	fputs("pn532_emu: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int hex_decode(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s);
	if (n == 0 || n % 2 || n / 2 > cap)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return (int)(n / 2);
}

static void card_set_uid(const uint8_t *uid, size_t len)
{
	memcpy(card.uid, uid, len);
	card.uid_len = len;
	card.selected = false;
	card.t4_app = false;
	card.t4_file = 0;
}

/* NTAG-like memory: UID and BCCs in pages 0-2, CC in page 3, TLVs from page 4. */
static int t2_build(const uint8_t *uid, size_t uid_len, const uint8_t *ndef, size_t ndef_len)
{
	uint8_t *m = card.t2;
	size_t data = 4 * 4, need;

	if (uid_len != 7)
		return -1;
	need = data + 4 + ndef_len + 1;
	card.t2_pages = 135; /* NTAG215: 504-byte data area */
	if (need > card.t2_pages * 4)
		card.t2_pages = T2_PAGES_MAX;
	if (need > card.t2_pages * 4)
		return -1;
	memset(m, 0, sizeof card.t2);
	m[0] = uid[0];
	m[1] = uid[1];
	m[2] = uid[2];
	m[3] = (uint8_t)(0x88 ^ uid[0] ^ uid[1] ^ uid[2]);
	memcpy(m + 4, uid + 3, 4);
	m[8] = (uint8_t)(uid[3] ^ uid[4] ^ uid[5] ^ uid[6]);
	if (ndef) {
		m[12] = 0xE1;
		m[13] = 0x10;
		m[14] = (uint8_t)((card.t2_pages - 4) * 4 / 8);
		m[15] = 0x00;
		if (ndef_len < 0xFF) {
			m[data++] = 0x03;
			m[data++] = (uint8_t)ndef_len;
		} else {
			m[data++] = 0x03;
			m[data++] = 0xFF;
			m[data++] = (uint8_t)(ndef_len >> 8);
			m[data++] = (uint8_t)ndef_len;
		}
		memcpy(m + data, ndef, ndef_len);
		m[data + ndef_len] = 0xFE;
	}
	return 0;
}

static const char *cmd_card(char *args)
{
	char *kind = strtok(args, " "), *hex = strtok(NULL, " ");
	uint8_t uid[UID_MAX];
	int n;

	if (!kind || !hex || strtok(NULL, " "))
		return "usage";
	n = hex_decode(hex, uid, sizeof uid);
	if (!strcmp(kind, "a")) {
		if (n != 4 && n != 7 && n != 10)
			return "uid_length";
		card.kind = n == 4 ? CARD_MFC : CARD_T2;
		card_set_uid(uid, (size_t)n);
		if (n != 4) {
			memset(card.t2, 0, sizeof card.t2);
			card.t2_pages = 45; /* unformatted: CC all zero */
			memcpy(card.t2, uid, 3);
		}
		return NULL;
	}
	if (!strcmp(kind, "b")) {
		if (n != 4)
			return "pupi_length";
		card.kind = CARD_B;
		card_set_uid(uid, 4);
		return NULL;
	}
	return "kind";
}

static const char *cmd_tag(char *args, int type)
{
	char *uidhex = strtok(args, " "), *ndefhex = strtok(NULL, " ");
	static uint8_t ndef[NDEF_MAX];
	uint8_t uid[UID_MAX];
	int u, n;

	if (!uidhex || !ndefhex || strtok(NULL, " "))
		return "usage";
	u = hex_decode(uidhex, uid, sizeof uid);
	n = hex_decode(ndefhex, ndef, sizeof ndef);
	if (n < 0)
		return "ndef_hex";
	if (type == 2) {
		if (u != 7)
			return "uid_length";
		if (t2_build(uid, 7, ndef, (size_t)n) < 0)
			return "too_big";
		card.kind = CARD_T2;
	} else {
		if (u != 4 && u != 7)
			return "uid_length";
		card.t4_ndef[0] = (uint8_t)(n >> 8);
		card.t4_ndef[1] = (uint8_t)n;
		memcpy(card.t4_ndef + 2, ndef, (size_t)n);
		card.t4_ndef_len = (size_t)n + 2;
		card.kind = CARD_T4;
	}
	card_set_uid(uid, (size_t)u);
	return NULL;
}

/* ---- PN532 frames ---- */

static int master_fd = -1;
static uint8_t last_reply[600];
static size_t last_reply_len;

static void write_all(int fd, const uint8_t *b, size_t n)
{
	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			if (errno == EAGAIN) {
				struct pollfd p = {.fd = fd, .events = POLLOUT};
				poll(&p, 1, 100);
				continue;
			}
			fprintf(stderr, "pn532_emu: write to pty: %s\n", strerror(errno));
			return;
		}
		b += w;
		n -= (size_t)w;
	}
}

static void send_reply(uint8_t cmd, const uint8_t *data, size_t len)
{
	static const uint8_t ack[] = {0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00};
	uint8_t *f = last_reply;
	size_t o = 0, flen = len + 2;
	uint8_t sum = 0;

	f[o++] = 0x00;
	f[o++] = 0x00;
	f[o++] = 0xFF;
	if (flen < 0xFF) {
		f[o++] = (uint8_t)flen;
		f[o++] = (uint8_t)(0x100 - flen);
	} else {
		f[o++] = 0xFF;
		f[o++] = 0xFF;
		f[o++] = (uint8_t)(flen >> 8);
		f[o++] = (uint8_t)flen;
		f[o++] = (uint8_t)(0x100 - (((flen >> 8) + flen) & 0xFF));
	}
	f[o++] = 0xD5;
	f[o++] = (uint8_t)(cmd + 1);
	sum = (uint8_t)(0xD5 + cmd + 1);
	for (size_t i = 0; i < len; i++) {
		f[o++] = data[i];
		sum = (uint8_t)(sum + data[i]);
	}
	f[o++] = (uint8_t)(0x100 - sum);
	f[o++] = 0x00;
	last_reply_len = o;
	write_all(master_fd, ack, sizeof ack);
	write_all(master_fd, f, o);
}

static void send_error_frame(void)
{
	static const uint8_t err[] = {0x00, 0x00, 0xFF, 0x01, 0xFF, 0x7F, 0x81, 0x00};
	static const uint8_t ack[] = {0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00};
	write_all(master_fd, ack, sizeof ack);
	write_all(master_fd, err, sizeof err);
}

/* Does InListPassiveTarget's initiator data (a cascaded UID) name our card? */
static bool uid_matches(const uint8_t *init, size_t n)
{
	if (n == 0)
		return true;
	if (n == card.uid_len && !memcmp(init, card.uid, n))
		return true;
	if (card.uid_len == 7 && n == 8 && init[0] == 0x88 && !memcmp(init + 1, card.uid, 7))
		return true;
	if (card.uid_len == 10 && n == 12 && init[0] == 0x88 && init[4] == 0x88 &&
	    !memcmp(init + 1, card.uid, 3) && !memcmp(init + 5, card.uid + 3, 7))
		return true;
	return false;
}

/* Target data as InListPassiveTarget (106 kbps type A) reports it, after Tg. */
static size_t type_a_target(uint8_t *o)
{
	size_t n = 0;
	o[n++] = 0x00;
	o[n++] = card.kind == CARD_MFC || card.kind == CARD_T4 ? 0x04 : 0x44;
	o[n++] = card.kind == CARD_MFC ? 0x08 : card.kind == CARD_T4 ? 0x20 : 0x00;
	o[n++] = (uint8_t)card.uid_len;
	memcpy(o + n, card.uid, card.uid_len);
	n += card.uid_len;
	if (card.kind == CARD_T4) {
		static const uint8_t ats[] = {0x05, 0x75, 0x77, 0x81, 0x02};
		memcpy(o + n, ats, sizeof ats);
		n += sizeof ats;
	}
	return n;
}

static bool card_is_a(void)
{
	return card.kind == CARD_MFC || card.kind == CARD_T2 || card.kind == CARD_T4;
}

static void in_list_passive_target(const uint8_t *d, size_t n)
{
	uint8_t r[64];
	size_t o = 0;

	if (n < 2) {
		send_error_frame();
		return;
	}
	r[o++] = 0x00;
	if (d[1] == 0x00 && card_is_a() && uid_matches(d + 2, n - 2)) {
		r[0] = 1;
		r[o++] = 0x01;
		o += type_a_target(r + o);
		card.selected = true;
		card.t4_app = false;
		card.t4_file = 0;
	} else if (d[1] == 0x03 && card.kind == CARD_B) {
		static const uint8_t tail[] = {0x00, 0x00, 0x00, 0x00, 0x00,
					       0x81, 0x81, 0x01, 0x00};
		r[0] = 1;
		r[o++] = 0x01;
		r[o++] = 0x50;
		memcpy(r + o, card.uid, 4);
		o += 4;
		memcpy(r + o, tail, sizeof tail);
		o += sizeof tail;
		card.selected = true;
	}
	if (r[0] == 0) {
		empty_polls++;
		if (card.kind != CARD_NONE)
			card.selected = false;
	}
	vlog("InListPassiveTarget brty=%u -> %u target(s)", d[1], r[0]);
	send_reply(0x4A, r, o);
}

static void in_auto_poll(const uint8_t *d, size_t n)
{
	uint8_t r[64];
	size_t o = 0;

	r[o++] = 0x00;
	for (size_t i = 2; i < n && card_is_a(); i++) {
		if (d[i] == 0x00 || d[i] == 0x10 || (d[i] == 0x20 && card.kind == CARD_T4)) {
			uint8_t t[40];
			size_t tl = type_a_target(t + 1);
			t[0] = 0x01;
			r[0] = 1;
			r[o++] = d[i];
			r[o++] = (uint8_t)(tl + 1);
			memcpy(r + o, t, tl + 1);
			o += tl + 1;
			card.selected = true;
			break;
		}
	}
	if (r[0] == 0)
		empty_polls++;
	send_reply(0x60, r, o);
}

static size_t t4_apdu(const uint8_t *a, size_t n, uint8_t *r)
{
	static const uint8_t aid[] = {0xD2, 0x76, 0x00, 0x00, 0x85, 0x01, 0x01};
	uint8_t cc[15] = {0x00, 0x0F, 0x20, 0x00, 0x3B, 0x00, 0x34, 0x04,
			  0x06, 0xE1, 0x04, 0x00, 0x00, 0x00, 0x00};
	size_t o = 0;

	cc[11] = (uint8_t)(T4_FILE_MAX >> 8);
	cc[12] = (uint8_t)T4_FILE_MAX;
	if (n >= 5 && a[1] == 0xA4 && a[2] == 0x04 && a[4] == sizeof aid && n >= 5 + sizeof aid &&
	    !memcmp(a + 5, aid, sizeof aid)) {
		card.t4_app = true;
		card.t4_file = 0;
		r[o++] = 0x90;
		r[o++] = 0x00;
	} else if (n >= 7 && a[1] == 0xA4 && a[2] == 0x00 && a[4] == 2) {
		uint16_t fid = (uint16_t)(a[5] << 8 | a[6]);
		if (card.t4_app && (fid == 0xE103 || fid == 0xE104)) {
			card.t4_file = fid == 0xE103 ? 1 : 2;
			r[o++] = 0x90;
			r[o++] = 0x00;
		} else {
			r[o++] = 0x6A;
			r[o++] = 0x82;
		}
	} else if (n >= 5 && a[1] == 0xB0) {
		size_t off = (size_t)(a[2] << 8 | a[3]), le = a[4] ? a[4] : 256;
		const uint8_t *f = card.t4_file == 1 ? cc : card.t4_ndef;
		size_t flen = card.t4_file == 1 ? sizeof cc : card.t4_ndef_len;
		if (card.t4_file == 0) {
			r[o++] = 0x69;
			r[o++] = 0x86;
		} else if (off > flen) {
			r[o++] = 0x6B;
			r[o++] = 0x00;
		} else {
			size_t k = flen - off < le ? flen - off : le;
			memcpy(r, f + off, k);
			o = k;
			r[o++] = 0x90;
			r[o++] = 0x00;
		}
	} else {
		r[o++] = 0x6D;
		r[o++] = 0x00;
	}
	return o;
}

static void in_data_exchange(const uint8_t *d, size_t n)
{
	uint8_t r[300];
	size_t o = 0;

	r[o++] = 0x00;
	if (n < 2 || card.kind == CARD_NONE || !card.selected) {
		r[0] = 0x01; /* timeout: nothing answered */
	} else if (card.kind == CARD_T2 && d[1] == 0x30 && n >= 3) {
		size_t pages = card.t2_pages;
		if (d[2] >= pages) {
			r[0] = 0x01; /* NAK, seen by the PN532 as no valid answer */
		} else {
			for (size_t i = 0; i < 16; i++)
				r[o++] = card.t2[(d[2] * 4 + i) % (pages * 4)];
		}
	} else if (card.kind == CARD_T4) {
		o += t4_apdu(d + 1, n - 1, r + 1);
	} else if (card.kind == CARD_B) {
		r[o++] = 0x6A; /* a B card without an NDEF application */
		r[o++] = 0x82;
	} else {
		r[0] = 0x01;
	}
	vlog("InDataExchange len=%zu -> status %02x len %zu", n, r[0], o);
	send_reply(0x40, r, o);
}

static void handle_command(const uint8_t *f, size_t n)
{
	uint8_t cmd = f[0], r[300];
	const uint8_t *d = f + 1;
	size_t dn = n - 1, o = 0;

	host_cmds++;
	switch (cmd) {
	case 0x00: /* Diagnose: the communication test echoes */
		send_reply(cmd, d, dn);
		return;
	case 0x02: /* GetFirmwareVersion: PN532 v1.6 */
		r[o++] = 0x32;
		r[o++] = 0x01;
		r[o++] = 0x06;
		r[o++] = 0x07;
		break;
	case 0x04: /* GetGeneralStatus */
		r[o++] = 0x00;
		r[o++] = 0x00;
		r[o++] = card.selected ? 1 : 0;
		r[o++] = 0x00;
		break;
	case 0x06: /* ReadRegister */
		for (size_t i = 0; i + 1 < dn; i += 2)
			r[o++] = regs[d[i] << 8 | d[i + 1]];
		break;
	case 0x08: /* WriteRegister */
		for (size_t i = 0; i + 2 < dn; i += 3)
			regs[d[i] << 8 | d[i + 1]] = d[i + 2];
		break;
	case 0x12: /* SetParameters */
	case 0x14: /* SAMConfiguration */
		break;
	case 0x16: /* PowerDown */
		r[o++] = 0x00;
		break;
	case 0x32: /* RFConfiguration; field off resets every card */
		if (dn >= 2 && d[0] == 0x01 && !(d[1] & 0x01))
			card.selected = false;
		break;
	case 0x40:
		in_data_exchange(d, dn);
		return;
	case 0x42:
		/* InCommunicateThru: only the ISO-DEP presence check libnfc makes,
		 * an R(NAK) block that a card in the field answers with R(ACK). */
		if (dn >= 1 && (d[0] & 0xE6) == 0xA2 && card.selected &&
		    (card.kind == CARD_T4 || card.kind == CARD_B)) {
			r[o++] = 0x00;
			r[o++] = (uint8_t)(d[0] & ~0x10);
			for (size_t i = 1; i < dn; i++)
				r[o++] = d[i];
		} else {
			r[o++] = 0x01;
		}
		break;
	case 0x44: /* InDeselect */
	case 0x52: /* InRelease */
		card.selected = false;
		r[o++] = 0x00;
		break;
	case 0x4A:
		in_list_passive_target(d, dn);
		return;
	case 0x60:
		in_auto_poll(d, dn);
		return;
	default:
		fprintf(stderr, "pn532_emu: unsupported command 0x%02x\n", cmd);
		send_error_frame();
		return;
	}
	vlog("cmd 0x%02x len=%zu", cmd, dn);
	send_reply(cmd, r, o);
}

/* Consume complete frames from buf; returns the number of bytes used. */
static size_t parse_frames(uint8_t *b, size_t n)
{
	size_t i = 0;

	for (;;) {
		size_t len, hdr, start;
		while (i + 1 < n && !(b[i] == 0x00 && b[i + 1] == 0xFF))
			i++;
		if (i + 4 > n)
			return i;
		start = i + 2;
		if (b[start] == 0x00 && b[start + 1] == 0xFF) { /* ACK: abort */
			i = start + 2;
			continue;
		}
		if (b[start] == 0xFF && b[start + 1] == 0x00) { /* NACK: resend */
			write_all(master_fd, last_reply, last_reply_len);
			i = start + 2;
			continue;
		}
		if (b[start] == 0xFF && b[start + 1] == 0xFF) {
			if (start + 5 > n)
				return i;
			if (((b[start + 2] + b[start + 3] + b[start + 4]) & 0xFF) != 0) {
				i++;
				continue;
			}
			len = (size_t)(b[start + 2] << 8 | b[start + 3]);
			hdr = start + 5;
		} else {
			if (((b[start] + b[start + 1]) & 0xFF) != 0) {
				i++;
				continue;
			}
			len = b[start];
			hdr = start + 2;
		}
		if (hdr + len + 1 > n)
			return i;
		{
			uint8_t sum = 0;
			for (size_t k = 0; k <= len; k++)
				sum = (uint8_t)(sum + b[hdr + k]);
			if (sum != 0 || len < 2 || b[hdr] != 0xD4) {
				fprintf(stderr, "pn532_emu: bad frame dropped\n");
				i = hdr + len + 1;
				continue;
			}
		}
		handle_command(b + hdr + 1, len - 1);
		i = hdr + len + 1;
	}
}

/* ---- control channel ---- */

enum wait_kind { WAIT_NONE, WAIT_EMPTY_POLL, WAIT_CMDS };
static enum wait_kind waiting;
static unsigned long wait_target;
static struct timespec wait_deadline;
static struct timespec stall_until; /* host commands are not read before this */

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void reply(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static bool past(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

static struct timespec in_ms(int ms)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

static void check_wait(void)
{
	if (waiting == WAIT_EMPTY_POLL && empty_polls >= wait_target) {
		waiting = WAIT_NONE;
		reply("ok");
	} else if (waiting == WAIT_CMDS && host_cmds >= wait_target) {
		waiting = WAIT_NONE;
		reply("ok");
	} else if (waiting != WAIT_NONE && past(&wait_deadline)) {
		waiting = WAIT_NONE;
		reply("err timeout");
	}
}

/* Returns 1 to quit. */
static int control_line(char *line)
{
	const char *e = NULL;
	char *sp = strchr(line, ' ');
	char *args = sp ? sp + 1 : line + strlen(line);

	if (sp)
		*sp = '\0';
	if (!strcmp(line, "card")) {
		e = cmd_card(args);
	} else if (!strcmp(line, "tag2")) {
		e = cmd_tag(args, 2);
	} else if (!strcmp(line, "tag4")) {
		e = cmd_tag(args, 4);
	} else if (!strcmp(line, "remove")) {
		card.kind = CARD_NONE;
		card.selected = false;
	} else if (!strcmp(line, "wait_empty_poll")) {
		waiting = WAIT_EMPTY_POLL;
		wait_target = empty_polls + 1;
		wait_deadline = in_ms(5000);
		return 0;
	} else if (!strcmp(line, "wait_cmds")) {
		long k = strtol(args, NULL, 10);
		if (k <= 0 || k > 100000) {
			e = "count";
		} else {
			waiting = WAIT_CMDS;
			wait_target = host_cmds + (unsigned long)k;
			wait_deadline = in_ms(5000);
			return 0;
		}
	} else if (!strcmp(line, "stall")) {
		long ms = strtol(args, NULL, 10);
		if (ms <= 0 || ms > 60000)
			e = "milliseconds";
		else
			stall_until = in_ms((int)ms);
	} else if (!strcmp(line, "quit")) {
		return 1;
	} else if (line[0] == '\0') {
		return 0;
	} else {
		e = "unknown_command";
	}
	if (e)
		reply("err %s", e);
	else
		reply("ok");
	return 0;
}

static void cleanup(void)
{
	if (link_path[0])
		unlink(link_path);
}

static void on_term(int sig)
{
	(void)sig;
	cleanup();
	_exit(0);
}

static int open_pty(char *slave_name, size_t cap, int *slave_fd)
{
	struct termios t;
	const char *name;
	int m = posix_openpt(O_RDWR | O_NOCTTY);

	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0 || !(name = ptsname(m)))
		return -1;
	if (strlen(name) >= cap)
		return -1;
	memcpy(slave_name, name, strlen(name) + 1);
	/* Keep the slave open ourselves: the master then never reads EIO
	 * while no host has the device open. */
	*slave_fd = open(slave_name, O_RDWR | O_NOCTTY);
	if (*slave_fd < 0)
		return -1;
	if (tcgetattr(*slave_fd, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(*slave_fd, TCSANOW, &t);
	}
	return m;
}

static int make_link(const char *target, const char *path)
{
	char tmp[PATH_MAX];
	int n = snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof tmp)
		return -1;
	unlink(tmp);
	if (symlink(target, tmp) < 0)
		return -1;
	if (rename(tmp, path) < 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static uint8_t rx[8192];
	char ctl[16384], slave[128];
	size_t rxn = 0, ctln = 0;
	int slave_fd = -1;
	const char *link = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--link") && i + 1 < argc) {
			link = argv[++i];
		} else if (!strcmp(argv[i], "--verbose")) {
			verbose = true;
		} else if (!strcmp(argv[i], "--help")) {
			fputs(usage_text, stdout);
			return 0;
		} else {
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (!link || strlen(link) >= sizeof link_path) {
		fputs(usage_text, stderr);
		return 2;
	}
	master_fd = open_pty(slave, sizeof slave, &slave_fd);
	if (master_fd < 0) {
		fprintf(stderr, "pn532_emu: cannot open a pseudo-terminal: %s\n", strerror(errno));
		return 1;
	}
	if (make_link(slave, link) < 0) {
		fprintf(stderr, "pn532_emu: cannot link %s -> %s: %s\n", link, slave,
			strerror(errno));
		return 1;
	}
	memcpy(link_path, link, strlen(link) + 1);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGPIPE, SIG_IGN);
	reply("ready %s", slave);

	for (;;) {
		char *nl;
		bool stalled = !past(&stall_until);
		struct pollfd p[2] = {{.fd = master_fd, .events = stalled ? 0 : POLLIN},
				      {.fd = 0, .events = waiting == WAIT_NONE ? POLLIN : 0}};
		int r = poll(p, 2, waiting == WAIT_NONE && !stalled ? -1 : 20);
		if (r < 0 && errno != EINTR)
			break;
		if (p[0].revents & POLLIN) {
			ssize_t k = read(master_fd, rx + rxn, sizeof rx - rxn);
			if (k > 0) {
				size_t used;
				rxn += (size_t)k;
				used = parse_frames(rx, rxn);
				memmove(rx, rx + used, rxn - used);
				rxn -= used;
				if (rxn == sizeof rx)
					rxn = 0; /* garbage without a frame */
			}
		}
		check_wait();
		if (p[1].revents & (POLLIN | POLLHUP)) {
			ssize_t k = read(0, ctl + ctln, sizeof ctl - 1 - ctln);
			if (k <= 0)
				break; /* the test went away */
			ctln += (size_t)k;
			if (ctln == sizeof ctl - 1 && !memchr(ctl, '\n', ctln))
				ctln = 0; /* an endless line */
		}
		while (waiting == WAIT_NONE && (nl = memchr(ctl, '\n', ctln))) {
			size_t ll = (size_t)(nl - ctl);
			*nl = '\0';
			if (ll && ctl[ll - 1] == '\r')
				ctl[ll - 1] = '\0';
			if (control_line(ctl)) {
				cleanup();
				return 0;
			}
			memmove(ctl, nl + 1, ctln - ll - 1);
			ctln -= ll + 1;
		}
	}
	cleanup();
	close(slave_fd);
	return 0;
}
