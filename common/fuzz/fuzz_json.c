/*
 * fuzz_json.c - libFuzzer target for rg_json_parse and the typed getters:
 * any bytes must parse or be refused cleanly, within the caps, and every
 * getter must cope with whatever shape the tree has.
 */
#include <stddef.h>
#include <stdint.h>

#include "common/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = {"a", "name", "n", "o", "arr", "b", NULL};
	char err[RG_JSON_ERR_MAX];
	cJSON *root = NULL;
	const cJSON *o, *arr;
	const char *s;
	int64_t i;
	bool b;
	double d;

	if (rg_json_parse((const char *)data, size, 64 * 1024, &root, err, sizeof err) < 0)
		return 0;
	for (const char *const *k = keys; *k; k++) {
		rg_json_req_str(root, *k, 64, &s, err, sizeof err);
		rg_json_opt_str(root, *k, 64, &s, err, sizeof err);
		rg_json_req_int(root, *k, -100, 100, &i, err, sizeof err);
		rg_json_opt_int(root, *k, INT64_MIN, INT64_MAX, &i, err, sizeof err);
		rg_json_req_bool(root, *k, &b, err, sizeof err);
		rg_json_req_double(root, *k, -1e9, 1e9, &d, err, sizeof err);
		if (rg_json_req_obj(root, *k, &o, err, sizeof err) == 0)
			rg_json_check_keys(o, keys, err, sizeof err);
		rg_json_req_arr(root, *k, 16, &arr, err, sizeof err);
	}
	rg_json_check_keys(root, keys, err, sizeof err);
	cJSON_Delete(root);
	return 0;
}
