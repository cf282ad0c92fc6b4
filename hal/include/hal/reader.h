/*
 * reader.h - identification readers (NFC, barcode/QR scanners, magstripe):
 * open one by backend name, poll() its fd, take raw reads. Backends: sim,
 * serial, evdev, libnfc (docs/hal.md). A reader is used by one thread; reads
 * are produced by the backend's own thread. Callers never see backend state
 * and must not assume what a read means: classifying it is the identifier
 * pipeline's job.
 */
#ifndef HAL_READER_H
#define HAL_READER_H

#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HAL_READ_UID_MAX 10	  /* ISO14443A triple-size UID */
#define HAL_READ_PAYLOAD_MAX 1024 /* text or NDEF message bytes */

/* What a read carries. Values are stable (they may be stored). */
enum hal_read_kind {
	HAL_READ_NFC_UID = 0,	/* uid only: the tag held no (readable) NDEF message */
	HAL_READ_NDEF = 1,	/* payload = raw NDEF message; uid set when known */
	HAL_READ_BARCODE = 2,	/* payload = text from a barcode scanner */
	HAL_READ_QR = 3,	/* payload = text from a 2D code */
	HAL_READ_MAGSTRIPE = 4, /* payload = track text */
};

enum hal_read_tech {
	HAL_TECH_NONE = 0, /* optical, magnetic, simulated text */
	HAL_TECH_ISO14443A = 1,
	HAL_TECH_ISO14443B = 2,
	HAL_TECH_FELICA = 3,
};

/* One raw read. Text payloads are valid UTF-8 without control characters
 * (GS, 0x1D, is allowed: GS1 codes use it) and are NUL-terminated; payload_len
 * excludes the NUL. NDEF payloads are binary. */
struct hal_read {
	enum hal_read_kind kind;
	enum hal_read_tech tech;
	size_t uid_len;
	uint8_t uid[HAL_READ_UID_MAX];
	size_t payload_len;
	uint8_t payload[HAL_READ_PAYLOAD_MAX + 1];
	int64_t time_ms; /* wall clock (the reader's rg_clock) when it was read */
};

/* Capability bits a backend declares (hal_reader_caps). */
#define HAL_READER_CAP_NFC_UID (1u << 0)
#define HAL_READER_CAP_NDEF (1u << 1)
#define HAL_READER_CAP_TEXT (1u << 2) /* barcode / QR text */
#define HAL_READER_CAP_MAGSTRIPE (1u << 3)
#define HAL_READER_CAP_HOTPLUG (1u << 4) /* survives the device going away */

struct hal_reader; /* opaque */

/* Open a reader. backend: "sim", "serial", "evdev" or "libnfc". options: a
 * "key=value,key=value" string as docs/hal.md lists per backend (NULL or ""
 * for defaults). clock: time source for read stamps; NULL = rg_clock_system(),
 * borrowed, must outlive the reader. On success *out is owned by the caller
 * (hal_reader_close). Errors: RG_ERR_NOTFOUND (no such backend),
 * RG_ERR_CONFIG (bad options, logged with the key), RG_ERR_IO/RG_ERR_DEVICE/
 * RG_ERR_BUSY (the backend could not start), RG_ERR_NOMEM. */
int hal_reader_open(const char *backend, const char *options, const struct rg_clock *clock,
		    struct hal_reader **out);

/* Stop the backend (joins its thread) and free everything. NULL is a no-op. */
void hal_reader_close(struct hal_reader *r);

/* A file descriptor that is readable (POLLIN) while at least one read is
 * pending. Owned by the reader; do not read, write or close it. */
int hal_reader_fd(const struct hal_reader *r);

/* Take the oldest pending read without blocking. Returns 1 and fills *out,
 * or 0 when nothing is pending. */
int hal_reader_poll(struct hal_reader *r, struct hal_read *out);

/* Like hal_reader_poll but waits up to timeout_ms (-1 = forever). Returns 1,
 * 0 on timeout, or a negative rg_err. */
int hal_reader_wait(struct hal_reader *r, struct hal_read *out, int timeout_ms);

/* 1 if the backend currently has its device open and working, 0 if it is
 * retrying; RG_ERR_NOSYS if the backend has no device to lose (sim). */
int hal_reader_connected(const struct hal_reader *r);

struct hal_reader_stats {
	uint64_t reads;	  /* reads queued since open */
	uint64_t dropped; /* reads lost because the queue was full */
};
int hal_reader_stats(const struct hal_reader *r, struct hal_reader_stats *out);

/* The backend's name and HAL_READER_CAP_* bits. */
const char *hal_reader_backend(const struct hal_reader *r);
unsigned hal_reader_caps(const struct hal_reader *r);

/* Registered backends, for config validation and help texts: the i-th
 * backend's name, or NULL past the end. */
const char *hal_reader_backend_name(size_t i);

/* Stable lower-case names ("nfc_uid", "iso14443a", ...). Never NULL. */
const char *hal_read_kind_name(enum hal_read_kind k);
const char *hal_read_tech_name(enum hal_read_tech t);

/* The sim backend's socket path when none is configured:
 * $XDG_RUNTIME_DIR/regulars/reader.sock if XDG_RUNTIME_DIR is an absolute
 * path, else /run/regulars/reader.sock. Returns its length, or RG_ERR_TOOBIG
 * if it does not fit in cap or in a Unix socket address. */
int hal_reader_sim_default_path(char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
