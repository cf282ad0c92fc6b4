/*
 * reader_libnfc.c - NFC readers libnfc drives (PN532 on UART/I2C/SPI, ACR122,
 * PN533 ...), by connstring. A device thread polls ISO14443A, ISO14443B and
 * FeliCa, reports each newly presented card once (one read: its NDEF message
 * if a Type 2/4 tag holds one, else its UID), waits for it to leave before
 * reporting it again, and reopens the device with backoff when it fails.
 * Only the thread touches the nfc_device, except nfc_abort_command on close.
 */
#include <errno.h>
#include <nfc/nfc.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"

#include "../core/worker.h"
#include "nfc_tag.h"
#include "reader_impl.h"

#define FAULTS_MAX 3 /* consecutive unexplained errors that mean the device is bad */
#define XFER_TIMEOUT_MS 300

struct nfcr {
	struct hal_reader *r;
	struct hal__worker w;
	struct hal__link link;
	struct hal__backoff backoff;
	nfc_context *ctx;
	char connstring[NFC_BUFSIZE_CONNSTRING];
	bool use_a, use_b, use_felica, ndef;
	int poll_ms;
	pthread_mutex_t dev_mu; /* guards dev against nfc_abort_command at close */
	nfc_device *dev;
	int faults;
	bool resync; /* a command failed: answers may be out of step (resync()) */
	/* the card on the reader, if any */
	bool present;
	nfc_modulation present_nm;
	uint8_t present_uid[HAL_READ_UID_MAX];
	size_t present_uid_len;
};

static const char *const libnfc_options[] = {"connstring",     "poll_ms",	 "iso14443a",
					     "iso14443b",      "felica",	 "ndef",
					     "backoff_min_ms", "backoff_max_ms", NULL};

/* libnfc result -> is the reader itself in trouble? */
/* An error about the card (or our own abort), not the reader. */
static bool card_answer(int res)
{
	switch (res) {
	case NFC_ETGRELEASED:
	case NFC_ERFTRANS:
	case NFC_EMFCAUTHFAIL:
	case NFC_EDEVNOTSUPP:
	case NFC_EOPABORTED:
		return true;
	default:
		return false;
	}
}

static bool device_fault(struct nfcr *n, int res)
{
	if (res == NFC_ENOTSUCHDEV)
		return true; /* the device is gone */
	if (card_answer(res))
		return false;
	/* Timeouts, chip errors and frames that do not check (EIO, also what
	 * a late answer read in place of another gives): one may be noise,
	 * a run is a dead reader or a closed port. */
	return ++n->faults >= FAULTS_MAX;
}

/* After a libnfc call failed for a reason other than the card's own answer
 * (a timeout above all), the reader's answer to it may still come: libnfc
 * does not abort the command, and would take that late answer for the answer
 * to the next command of the same code. A late InListPassiveTarget answer
 * naming the card reads as a card just presented (of whatever technology the
 * next poll asked for, with a garbled UID), a late InDataExchange answer as
 * the next block of a tag. So after such an error nothing the reader says is
 * believed until resync() had an answer in step. */
static void note_error(struct nfcr *n, int res)
{
	if (res < 0 && !card_answer(res))
		n->resync = true;
}

/* One command whose answer cannot pass for a card's (RFConfiguration, the
 * retry limits we set at open; it leaves the field and the selected card
 * alone). The reader answers in order, so if this answer comes back in step,
 * every older answer was read or thrown away before it (libnfc empties its
 * input before each command) and the next command's answer is its own.
 * 0 in step, 1 not yet (try again next poll), <0 the reader failed. */
static int resync(struct nfcr *n)
{
	int res = nfc_device_set_property_bool(n->dev, NP_INFINITE_SELECT, false);
	if (res >= 0) {
		n->resync = false;
		rg_info("reader", "resynced",
			"backend=libnfc detail=\"answers in step again after a failed command\"");
		return 0;
	}
	/* A late answer read in its place fails as EIO (wrong command code):
	 * the next try will find the line empty. */
	return device_fault(n, res) ? RG_ERR_DEVICE : 1;
}

static int xfer(void *ctx, const uint8_t *tx, size_t txlen, uint8_t *rx, size_t cap)
{
	struct nfcr *n = ctx;
	int res;

	if (n->resync)
		return RG_ERR_IO; /* an earlier block failed: the rest is not believed */
	res = nfc_initiator_transceive_bytes(n->dev, tx, txlen, rx, cap, XFER_TIMEOUT_MS);
	if (res >= 0)
		return res;
	note_error(n, res);
	return res == NFC_ENOTSUCHDEV ? RG_ERR_DEVICE : RG_ERR_IO;
}

static void target_uid(const nfc_target *nt, struct hal_read *rd)
{
	switch (nt->nm.nmt) {
	case NMT_ISO14443A:
		rd->tech = HAL_TECH_ISO14443A;
		rd->uid_len = nt->nti.nai.szUidLen;
		if (rd->uid_len > HAL_READ_UID_MAX)
			rd->uid_len = HAL_READ_UID_MAX;
		memcpy(rd->uid, nt->nti.nai.abtUid, rd->uid_len);
		break;
	case NMT_ISO14443B:
		rd->tech = HAL_TECH_ISO14443B;
		rd->uid_len = 4;
		memcpy(rd->uid, nt->nti.nbi.abtPupi, 4);
		break;
	case NMT_FELICA:
		rd->tech = HAL_TECH_FELICA;
		rd->uid_len = 8;
		memcpy(rd->uid, nt->nti.nfi.abtId, 8);
		break;
	default:
		rd->tech = HAL_TECH_NONE;
		rd->uid_len = 0;
		break;
	}
}

/* A card was selected: read its NDEF message if it may hold one, queue one
 * read. Returns 0, or a negative rg_err if the reader failed meanwhile. */
static int card_arrived(struct nfcr *n, const nfc_target *nt)
{
	struct hal__tag_io io = {.xfer = xfer, .ctx = n};
	struct hal_read *rd = calloc(1, sizeof *rd);
	int got = 0, rc = 0;

	if (!rd) {
		rg_error("reader", "read_dropped", "backend=libnfc reason=out_of_memory");
		return 0;
	}
	rd->kind = HAL_READ_NFC_UID;
	target_uid(nt, rd);
	if (n->ndef && nt->nm.nmt == NMT_ISO14443A) {
		uint8_t sak = nt->nti.nai.btSak;
		if (sak & 0x20)
			got = hal__t4_read_ndef(&io, rd->payload, HAL_READ_PAYLOAD_MAX);
		else if (sak == 0x00)
			got = hal__t2_read_ndef(&io, rd->payload, HAL_READ_PAYLOAD_MAX);
	} else if (n->ndef && nt->nm.nmt == NMT_ISO14443B &&
		   (nt->nti.nbi.abtProtocolInfo[1] & 0x01)) {
		got = hal__t4_read_ndef(&io, rd->payload, HAL_READ_PAYLOAD_MAX);
	}
	if (got > 0) {
		rd->kind = HAL_READ_NDEF;
		rd->payload_len = (size_t)got;
	} else if (got < 0) {
		rg_info("reader", "ndef_unreadable", "backend=libnfc tech=%s error=%s",
			hal_read_tech_name(rd->tech), rg_errname(got));
		memset(rd->payload, 0, sizeof rd->payload);
		if (got == RG_ERR_DEVICE)
			rc = RG_ERR_DEVICE; /* still report the card we saw */
	}
	hal__reader_push(n->r, rd);
	n->present = true;
	n->present_nm = nt->nm;
	n->present_uid_len = rd->uid_len;
	memcpy(n->present_uid, rd->uid, rd->uid_len);
	free(rd);
	return rc;
}

/* Is the card we reported still in the field? 1 yes, 0 no, <0 reader fault. */
static int card_still_there(struct nfcr *n)
{
	int res = nfc_initiator_target_is_present(n->dev, NULL);

	note_error(n, res);
	if (res == 0) {
		n->faults = 0;
		return 1;
	}
	if (res == NFC_EDEVNOTSUPP) {
		/* libnfc has no presence check for this card type: select it again
		 * by its UID, as a card that left would not answer. */
		nfc_target nt;
		res = nfc_initiator_select_passive_target(n->dev, n->present_nm, n->present_uid,
							  n->present_uid_len, &nt);
		note_error(n, res);
		if (res > 0) {
			n->faults = 0;
			return 1;
		}
		if (res == 0)
			return 0;
	}
	if (device_fault(n, res))
		return RG_ERR_DEVICE;
	/* The card answered that it is gone (released, no RF answer), or we
	 * aborted: it left. A timeout or chip error between us and the reader
	 * says nothing about the card: taking it for "left" would report a card
	 * still lying on the reader a second time at the next poll. Ask again
	 * next poll (a run of them is a dead reader, above). */
	return card_answer(res) ? 0 : 1;
}

/* Poll one modulation. 1 card selected into *nt, 0 none, <0 reader fault. */
static int poll_one(struct nfcr *n, nfc_modulation_type nmt, nfc_baud_rate nbr, nfc_target *nt)
{
	nfc_modulation nm = {.nmt = nmt, .nbr = nbr};
	int res = nfc_initiator_select_passive_target(n->dev, nm, NULL, 0, nt);
	note_error(n, res);
	if (res > 0) {
		n->faults = 0;
		return 1;
	}
	if (res == 0) {
		n->faults = 0;
		return 0;
	}
	return device_fault(n, res) ? RG_ERR_DEVICE : 0;
}

static bool supports(nfc_device *dev, nfc_modulation_type nmt)
{
	const nfc_modulation_type *mt;
	if (nfc_device_get_supported_modulation(dev, N_INITIATOR, &mt) < 0)
		return nmt == NMT_ISO14443A;
	for (size_t i = 0; mt[i]; i++)
		if (mt[i] == nmt)
			return true;
	return false;
}

/* Run on an open device until it fails (negative) or we are stopped (0). */
static int session(struct nfcr *n)
{
	bool a = n->use_a && supports(n->dev, NMT_ISO14443A);
	bool b = n->use_b && supports(n->dev, NMT_ISO14443B);
	bool f = n->use_felica && supports(n->dev, NMT_FELICA);

	n->present = false;
	n->faults = 0;
	n->resync = false;
	while (!hal__worker_stopping(&n->w)) {
		int rc = 0;
		if (n->resync) {
			rc = resync(n);
		} else if (!n->present) {
			nfc_target nt;
			int got = 0;
			/* each poll only while the answers are in step */
			if (a)
				got = poll_one(n, NMT_ISO14443A, NBR_106, &nt);
			if (!got && b && !n->resync)
				got = poll_one(n, NMT_ISO14443B, NBR_106, &nt);
			if (!got && f && !n->resync)
				got = poll_one(n, NMT_FELICA, NBR_212, &nt);
			if (!got && f && !n->resync)
				got = poll_one(n, NMT_FELICA, NBR_424, &nt);
			if (got < 0)
				return got;
			if (got)
				rc = card_arrived(n, &nt);
		} else {
			rc = card_still_there(n);
			if (rc == 0) {
				n->present = false;
				note_error(n, nfc_initiator_deselect_target(n->dev));
				rg_debug("reader", "card_left", "backend=libnfc");
			}
		}
		if (rc < 0)
			return rc;
		if (hal__worker_wait(&n->w, -1, 0, n->poll_ms, NULL) == HAL__WORKER_STOP)
			break;
	}
	return 0;
}

static void *libnfc_thread(void *arg)
{
	struct nfcr *n = arg;

	while (!hal__worker_stopping(&n->w)) {
		nfc_device *dev = nfc_open(n->ctx, n->connstring[0] ? n->connstring : NULL);
		const char *during = "open";
		int rc = RG_ERR_DEVICE;

		if (dev && nfc_initiator_init(dev) >= 0 &&
		    nfc_device_set_property_bool(dev, NP_INFINITE_SELECT, false) >= 0) {
			pthread_mutex_lock(&n->dev_mu);
			n->dev = dev;
			pthread_mutex_unlock(&n->dev_mu);
			hal__backoff_reset(&n->backoff);
			hal__link_up(&n->link);
			rc = session(n);
			during = "poll";
			pthread_mutex_lock(&n->dev_mu);
			n->dev = NULL;
			pthread_mutex_unlock(&n->dev_mu);
		} else if (dev) {
			during = "init";
		}
		if (dev)
			nfc_close(dev);
		if (hal__worker_stopping(&n->w))
			break;
		hal__link_down(&n->link, during, rc < 0 ? rc : RG_ERR_DEVICE);
		if (hal__worker_wait(&n->w, -1, 0, hal__backoff_next(&n->backoff), NULL) ==
		    HAL__WORKER_STOP)
			break;
	}
	return NULL;
}

static int libnfc_open(struct hal_reader *r, const struct hal__opts *o)
{
	const char *cs = hal__opts_str(o, "connstring", "");
	long poll_ms, bmin, bmax;
	bool a, b, f, ndef;
	struct nfcr *n;
	int rc;

	if (strlen(cs) >= NFC_BUFSIZE_CONNSTRING)
		return hal__opts_fail(o, "connstring", "too long");
	if ((rc = hal__opts_int(o, "poll_ms", 10, 5000, 200, &poll_ms)) ||
	    (rc = hal__opts_bool(o, "iso14443a", true, &a)) ||
	    (rc = hal__opts_bool(o, "iso14443b", true, &b)) ||
	    (rc = hal__opts_bool(o, "felica", true, &f)) ||
	    (rc = hal__opts_bool(o, "ndef", true, &ndef)) ||
	    (rc = hal__opts_int(o, "backoff_min_ms", 1, 60000, 250, &bmin)) ||
	    (rc = hal__opts_int(o, "backoff_max_ms", 1, 600000, 8000, &bmax)))
		return rc;
	if (!a && !b && !f)
		return hal__opts_fail(o, "iso14443a", "every technology is off");
	n = calloc(1, sizeof *n);
	if (!n)
		return RG_ERR_NOMEM;
	n->r = r;
	memcpy(n->connstring, cs, strlen(cs) + 1);
	n->use_a = a;
	n->use_b = b;
	n->use_felica = f;
	n->ndef = ndef;
	n->poll_ms = (int)poll_ms;
	hal__backoff_init(&n->backoff, (int)bmin, (int)bmax);
	hal__link_init(&n->link, "reader", "libnfc", cs);
	if (pthread_mutex_init(&n->dev_mu, NULL) != 0) {
		free(n);
		return RG_ERR_NOMEM;
	}
	nfc_init(&n->ctx);
	if (!n->ctx) {
		rg_error("reader", "libnfc_init_failed", "backend=libnfc");
		pthread_mutex_destroy(&n->dev_mu);
		free(n);
		return RG_ERR_DEVICE;
	}
	r->priv = n;
	rc = hal__worker_start(&n->w, libnfc_thread, n);
	if (rc) {
		nfc_exit(n->ctx);
		pthread_mutex_destroy(&n->dev_mu);
		free(n);
		r->priv = NULL;
	}
	return rc;
}

static void libnfc_close(struct hal_reader *r)
{
	struct nfcr *n = r->priv;
	if (!n)
		return;
	hal__worker_request_stop(&n->w);
	pthread_mutex_lock(&n->dev_mu);
	if (n->dev)
		nfc_abort_command(n->dev);
	pthread_mutex_unlock(&n->dev_mu);
	hal__worker_stop(&n->w);
	nfc_exit(n->ctx);
	pthread_mutex_destroy(&n->dev_mu);
	free(n);
	r->priv = NULL;
}

static int libnfc_connected(const struct hal_reader *r)
{
	const struct nfcr *n = r->priv;
	return atomic_load(&n->link.connected);
}

const struct hal_reader_ops hal__reader_libnfc_ops = {
    .version = HAL_READER_OPS_VERSION,
    .name = "libnfc",
    .caps = HAL_READER_CAP_NFC_UID | HAL_READER_CAP_NDEF | HAL_READER_CAP_HOTPLUG,
    .options = libnfc_options,
    .open = libnfc_open,
    .close = libnfc_close,
    .connected = libnfc_connected,
};
