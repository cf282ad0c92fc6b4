/*
 * text.h - small helpers the HAL backends share: the rule for scanned text
 * (UTF-8, no control characters except GS) and atomic file replacement
 * (temp file + fsync + rename + directory fsync).
 */
#ifndef HAL_CORE_TEXT_H
#define HAL_CORE_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* 0 if s[0..n) is acceptable scanned/displayed text, else RG_ERR_PARSE.
 * Empty text is acceptable here; callers decide about length. */
int hal__text_check(const void *s, size_t n);

/* Replace path with data so that a reader (or a power cut) sees either the
 * old or the new content. The new file gets `mode`. */
int hal__file_replace(const char *path, const void *data, size_t len, mode_t mode);

#endif
