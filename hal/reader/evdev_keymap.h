/*
 * evdev_keymap.h - Linux key codes to text for keyboard-wedge scanners, per
 * keyboard layout (the layout the scanner was programmed for). Tables are
 * const data; there is no locale or X/console keymap dependency.
 */
#ifndef HAL_READER_EVDEV_KEYMAP_H
#define HAL_READER_EVDEV_KEYMAP_H

#include <stddef.h>

enum hal__layout { HAL__LAYOUT_US = 0, HAL__LAYOUT_DE = 1 };

struct hal__mods {
	int shift; /* either shift key held */
	int altgr; /* right alt held (AltGr on European layouts) */
	int ctrl;
	int caps; /* caps lock toggled on */
};

/* The UTF-8 text key `code` types with mods on layout, copied into out
 * (NUL-terminated) and its length returned; 0 if the combination types
 * nothing this table knows (the caller must then refuse the line). */
size_t hal__keymap_text(enum hal__layout layout, unsigned code, const struct hal__mods *m,
			char out[8]);

#endif
