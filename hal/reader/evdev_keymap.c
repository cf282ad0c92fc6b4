/*
 * evdev_keymap.c - key code tables for the layouts HID scanners are set to:
 * "us" and "de" (QWERTZ: Y/Z swapped, umlauts, AltGr symbols). Dead keys
 * (´ ` ^ on de) are mapped to their plain characters: scanners never compose
 * accents. Ctrl+] (the key right of P) types GS (0x1D), as GS1 scanners send.
 */
#include <linux/input-event-codes.h>
#include <string.h>

#include "evdev_keymap.h"

struct key {
	const char *plain, *shift, *altgr;
	int letter; /* caps lock applies */
};

#define TABLE_SIZE (KEY_KPSLASH + 1)
/* clang-format off */
#define L(p, s) {p, s, NULL, 1}
#define K(p, s) {p, s, NULL, 0}
#define KA(p, s, a) {p, s, a, 0}
#define LA(p, s, a) {p, s, a, 1}
/* clang-format on */

#define COMMON_KEYS                                                                                \
	[KEY_A] = L("a", "A"), [KEY_B] = L("b", "B"), [KEY_C] = L("c", "C"),                       \
	[KEY_D] = L("d", "D"), [KEY_F] = L("f", "F"), [KEY_G] = L("g", "G"),                       \
	[KEY_H] = L("h", "H"), [KEY_I] = L("i", "I"), [KEY_J] = L("j", "J"),                       \
	[KEY_K] = L("k", "K"), [KEY_L] = L("l", "L"), [KEY_N] = L("n", "N"),                       \
	[KEY_O] = L("o", "O"), [KEY_P] = L("p", "P"), [KEY_R] = L("r", "R"),                       \
	[KEY_S] = L("s", "S"), [KEY_T] = L("t", "T"), [KEY_U] = L("u", "U"),                       \
	[KEY_V] = L("v", "V"), [KEY_W] = L("w", "W"), [KEY_X] = L("x", "X"),                       \
	[KEY_SPACE] = K(" ", " "), [KEY_KP0] = K("0", NULL), [KEY_KP1] = K("1", NULL),             \
	[KEY_KP2] = K("2", NULL), [KEY_KP3] = K("3", NULL), [KEY_KP4] = K("4", NULL),              \
	[KEY_KP5] = K("5", NULL), [KEY_KP6] = K("6", NULL), [KEY_KP7] = K("7", NULL),              \
	[KEY_KP8] = K("8", NULL), [KEY_KP9] = K("9", NULL), [KEY_KPMINUS] = K("-", NULL),          \
	[KEY_KPPLUS] = K("+", NULL), [KEY_KPASTERISK] = K("*", NULL), [KEY_KPSLASH] = K("/", NULL)

static const struct key us[TABLE_SIZE] = {
    COMMON_KEYS,
    [KEY_E] = L("e", "E"),
    [KEY_M] = L("m", "M"),
    [KEY_Q] = L("q", "Q"),
    [KEY_Y] = L("y", "Y"),
    [KEY_Z] = L("z", "Z"),
    [KEY_1] = K("1", "!"),
    [KEY_2] = K("2", "@"),
    [KEY_3] = K("3", "#"),
    [KEY_4] = K("4", "$"),
    [KEY_5] = K("5", "%"),
    [KEY_6] = K("6", "^"),
    [KEY_7] = K("7", "&"),
    [KEY_8] = K("8", "*"),
    [KEY_9] = K("9", "("),
    [KEY_0] = K("0", ")"),
    [KEY_MINUS] = K("-", "_"),
    [KEY_EQUAL] = K("=", "+"),
    [KEY_LEFTBRACE] = K("[", "{"),
    [KEY_RIGHTBRACE] = K("]", "}"),
    [KEY_SEMICOLON] = K(";", ":"),
    [KEY_APOSTROPHE] = K("'", "\""),
    [KEY_GRAVE] = K("`", "~"),
    [KEY_BACKSLASH] = K("\\", "|"),
    [KEY_COMMA] = K(",", "<"),
    [KEY_DOT] = K(".", ">"),
    [KEY_SLASH] = K("/", "?"),
    [KEY_KPDOT] = K(".", NULL),
    [KEY_102ND] = K("\\", "|"),
};

static const struct key de[TABLE_SIZE] = {
    COMMON_KEYS,
    [KEY_E] = LA("e", "E", "\xe2\x82\xac"), /* € */
    [KEY_M] = LA("m", "M", "\xc2\xb5"),	    /* µ */
    [KEY_Q] = LA("q", "Q", "@"),
    [KEY_Y] = L("z", "Z"),
    [KEY_Z] = L("y", "Y"),
    [KEY_1] = K("1", "!"),
    [KEY_2] = KA("2", "\"", "\xc2\xb2"),
    [KEY_3] = KA("3", "\xc2\xa7", "\xc2\xb3"),
    [KEY_4] = K("4", "$"),
    [KEY_5] = K("5", "%"),
    [KEY_6] = K("6", "&"),
    [KEY_7] = KA("7", "/", "{"),
    [KEY_8] = KA("8", "(", "["),
    [KEY_9] = KA("9", ")", "]"),
    [KEY_0] = KA("0", "=", "}"),
    [KEY_MINUS] = KA("\xc3\x9f", "?", "\\"), /* ß */
    [KEY_EQUAL] = K("\xc2\xb4", "`"),	     /* ´ */
    [KEY_LEFTBRACE] = L("\xc3\xbc", "\xc3\x9c"),
    [KEY_RIGHTBRACE] = KA("+", "*", "~"),
    [KEY_SEMICOLON] = L("\xc3\xb6", "\xc3\x96"),
    [KEY_APOSTROPHE] = L("\xc3\xa4", "\xc3\x84"),
    [KEY_GRAVE] = K("^", "\xc2\xb0"),
    [KEY_BACKSLASH] = K("#", "'"),
    [KEY_COMMA] = K(",", ";"),
    [KEY_DOT] = K(".", ":"),
    [KEY_SLASH] = K("-", "_"),
    [KEY_KPDOT] = K(",", NULL),
    [KEY_102ND] = KA("<", ">", "|"),
};

size_t hal__keymap_text(enum hal__layout layout, unsigned code, const struct hal__mods *m,
			char out[8])
{
	const struct key *t = layout == HAL__LAYOUT_DE ? de : us;
	const struct key *k;
	const char *s;
	int upper;
	size_t n;

	out[0] = '\0';
	if (code >= TABLE_SIZE)
		return 0;
	if (m->ctrl) {
		if (code == KEY_RIGHTBRACE && !m->altgr) {
			out[0] = 0x1D;
			out[1] = '\0';
			return 1;
		}
		return 0;
	}
	k = &t[code];
	if (!k->plain)
		return 0;
	upper = m->shift ^ (k->letter && m->caps);
	if (m->altgr)
		s = m->shift ? NULL : k->altgr;
	else if (upper)
		s = k->shift ? k->shift : (k->letter ? NULL : k->plain);
	else
		s = k->plain;
	if (!s)
		return 0;
	n = strlen(s);
	memcpy(out, s, n + 1);
	return n;
}
