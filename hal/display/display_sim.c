/*
 * display_sim.c - the simulated display: keeps the last N frames in memory
 * (hal_display_frame) and can write them as JSON lines to a file, after every
 * change (option file=) or on request (hal_display_save). Tests and the demo
 * read what the customer would have seen from there.
 */
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "common/err.h"
#include "common/log.h"

#include "../core/text.h"
#include "display_impl.h"

struct dsim {
	struct hal_frame *ring;
	size_t cap, count, next; /* next: slot the next frame goes to */
	uint64_t seq;
	char file[1024];
};

static const char *const dsim_options[] = {"frames", "file", NULL};

static int dsim_open(struct hal_display *d, const struct hal__opts *o)
{
	const char *file = hal__opts_str(o, "file", "");
	struct dsim *s;
	long frames;
	int rc;

	if ((rc = hal__opts_int(o, "frames", 1, 64, 16, &frames)))
		return rc;
	if (strlen(file) >= sizeof s->file)
		return hal__opts_fail(o, "file", "too long");
	s = calloc(1, sizeof *s);
	if (!s)
		return RG_ERR_NOMEM;
	s->ring = calloc((size_t)frames, sizeof *s->ring);
	if (!s->ring) {
		free(s);
		return RG_ERR_NOMEM;
	}
	s->cap = (size_t)frames;
	memcpy(s->file, file, strlen(file) + 1);
	d->priv = s;
	return 0;
}

static void dsim_close(struct hal_display *d)
{
	struct dsim *s = d->priv;
	if (!s)
		return;
	free(s->ring);
	free(s);
	d->priv = NULL;
}

static void copy_text(char *dst, const char *src)
{
	size_t n = src ? strlen(src) : 0;
	if (n > HAL_VIEW_TEXT_MAX)
		n = HAL_VIEW_TEXT_MAX;
	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

static struct hal_frame *next_slot(struct hal_display *d)
{
	struct dsim *s = d->priv;
	struct hal_frame *f = &s->ring[s->next];
	memset(f, 0, sizeof *f);
	f->seq = ++s->seq;
	f->time_ms = rg_clock_wall_ms(d->clock);
	s->next = (s->next + 1) % s->cap;
	if (s->count < s->cap)
		s->count++;
	return f;
}

static int dsim_save(struct hal_display *d, const char *path);

static int after_change(struct hal_display *d)
{
	struct dsim *s = d->priv;
	int rc;
	if (!s->file[0])
		return 0;
	rc = dsim_save(d, s->file);
	if (rc) {
		char q[160];
		rg_warn("display", "save_failed", "backend=sim file=%s error=%s",
			rg_log_quote(q, sizeof q, s->file), rg_errname(rc));
	}
	return rc;
}

static int dsim_show(struct hal_display *d, const struct hal_view *v)
{
	struct hal_frame *f = next_slot(d);
	if (v->json) {
		size_t n = strlen(v->json);
		memcpy(f->json, v->json, n + 1); /* n <= HAL_VIEW_JSON_MAX: checked */
	} else {
		copy_text(f->title, v->title);
		f->n_lines = v->n_lines;
		for (size_t i = 0; i < v->n_lines; i++)
			copy_text(f->lines[i], v->lines[i]);
	}
	return after_change(d);
}

static int dsim_clear(struct hal_display *d)
{
	struct hal_frame *f = next_slot(d);
	f->cleared = true;
	return after_change(d);
}

static int dsim_frame(struct hal_display *d, size_t age, struct hal_frame *out)
{
	struct dsim *s = d->priv;
	if (age >= s->count)
		return RG_ERR_NOTFOUND;
	*out = s->ring[(s->next + s->cap - 1 - age) % s->cap];
	return 0;
}

static cJSON *frame_json(const struct hal_frame *f)
{
	cJSON *o = cJSON_CreateObject(), *lines;
	char ts[25];

	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "seq", (double)f->seq);
	cJSON_AddStringToObject(o, "time", rg_time_format(f->time_ms, ts));
	if (f->cleared) {
		cJSON_AddBoolToObject(o, "cleared", 1);
	} else if (f->json[0]) {
		cJSON *v = cJSON_Parse(f->json);
		if (!v || !cJSON_AddItemToObject(o, "view", v)) {
			cJSON_Delete(v);
			cJSON_Delete(o);
			return NULL;
		}
	} else {
		cJSON_AddStringToObject(o, "title", f->title);
		lines = cJSON_AddArrayToObject(o, "lines");
		for (size_t i = 0; lines && i < f->n_lines; i++)
			cJSON_AddItemToArray(lines, cJSON_CreateString(f->lines[i]));
	}
	return o;
}

static int dsim_save(struct hal_display *d, const char *path)
{
	struct dsim *s = d->priv;
	size_t cap = s->count * (sizeof(struct hal_frame) * 2 + 64) + 1, len = 0;
	char *buf = malloc(cap);
	int rc = 0;

	if (!buf)
		return RG_ERR_NOMEM;
	for (size_t age = s->count; age-- > 0;) {
		const struct hal_frame *f = &s->ring[(s->next + s->cap - 1 - age) % s->cap];
		cJSON *o = frame_json(f);
		char *txt = o ? cJSON_PrintUnformatted(o) : NULL;
		size_t n = txt ? strlen(txt) : 0;
		cJSON_Delete(o);
		if (!txt) {
			rc = RG_ERR_NOMEM;
			break;
		}
		if (len + n + 1 > cap) {
			free(txt);
			rc = RG_ERR_TOOBIG;
			break;
		}
		memcpy(buf + len, txt, n);
		len += n;
		buf[len++] = '\n';
		free(txt);
	}
	if (!rc)
		rc = hal__file_replace(path, buf, len, 0644);
	free(buf);
	return rc;
}

const struct hal_display_ops hal__display_sim_ops = {
    .version = HAL_DISPLAY_OPS_VERSION,
    .name = "sim",
    .caps = HAL_DISPLAY_CAP_RECORD,
    .options = dsim_options,
    .open = dsim_open,
    .close = dsim_close,
    .show = dsim_show,
    .clear = dsim_clear,
    .frame = dsim_frame,
    .save = dsim_save,
};
