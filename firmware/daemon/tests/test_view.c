/* View models: what each role may see of a cached profile body. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "view.h"

static const char *FULL =
	"{\"name\":\"Anna Schmidt\",\"first_name\":\"Anna\",\"tier\":\"gold\",\"points\":1200,"
	"\"preferences\":{\"language\":\"de\"},"
	"\"consent\":{\"show_in_public\":[\"points\",\"orders\",\"service\",\"offers\"]},"
	"\"home_store\":\"0042\","
	"\"interactions\":[{\"channel\":\"web\",\"department\":\"orders\",\"summary\":\"Order 7001 ready\","
	"\"time\":\"2025-11-20T10:00:00Z\"},{\"channel\":\"call\",\"department\":\"service\","
	"\"summary\":\"Asked about the dishwasher\"},{\"channel\":\"web\",\"department\":\"orders\","
	"\"summary\":\"Order 7002 shipped\"}],"
	"\"episodes\":[{\"id\":\"e-17\",\"department\":\"service\",\"status\":\"open\",\"title\":\"Dishwasher repair\"},"
	"{\"id\":\"e-18\",\"department\":\"service\",\"status\":\"resolved\",\"title\":\"Old case\"}],"
	"\"next_best_action\":\"Offer the extended warranty\"}";

static const struct view_opts OPTS = {.public_items_max = 3, .idle_after_ms = 8000,
				      .default_language = "en"};

static char *print(cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	return s;
}

static void kiosk_with_full_consent(void **state)
{
	(void)state;
	int err = 0;
	cJSON *v = view_kiosk(FULL, strlen(FULL), &OPTS, "019ab0d2-6a3b-7c01-9e2f-5a1b2c3d4e5f", &err);
	assert_non_null(v);
	assert_string_equal(cJSON_GetObjectItem(v, "state")->valuestring, "greeting");
	assert_string_equal(cJSON_GetObjectItem(v, "first_name")->valuestring, "Anna");
	assert_string_equal(cJSON_GetObjectItem(v, "tier")->valuestring, "gold");
	assert_int_equal(cJSON_GetObjectItem(v, "points")->valueint, 1200);
	assert_string_equal(cJSON_GetObjectItem(v, "language")->valuestring, "de");
	cJSON *items = cJSON_GetObjectItem(v, "items");
	assert_int_equal(cJSON_GetArraySize(items), 3);
	assert_string_equal(cJSON_GetArrayItem(items, 0)->valuestring, "Order 7001 ready");
	assert_string_equal(cJSON_GetArrayItem(items, 1)->valuestring, "Order 7002 shipped");
	assert_string_equal(cJSON_GetArrayItem(items, 2)->valuestring, "Dishwasher repair");
	char *s = print(v);
	/* Never on a public screen: the surname, the home store, other departments. */
	assert_null(strstr(s, "Schmidt"));
	assert_null(strstr(s, "0042"));
	assert_null(strstr(s, "dishwasher"));
	assert_null(strstr(s, "Old case"));
	free(s);
}

static void kiosk_without_consent_shows_nothing_personal(void **state)
{
	(void)state;
	const char *body = "{\"name\":\"Bob Jones\",\"first_name\":\"Bob\",\"tier\":\"silver\","
			   "\"points\":77,\"consent\":{\"show_in_public\":[]},"
			   "\"next_best_action\":\"Sell him a kettle\"}";
	cJSON *v = view_kiosk(body, strlen(body), &OPTS, NULL, NULL);
	assert_non_null(v);
	char *s = print(v);
	assert_non_null(strstr(s, "\"state\":\"greeting\""));
	assert_null(strstr(s, "Bob"));
	assert_null(strstr(s, "silver"));
	assert_null(strstr(s, "77"));
	assert_null(strstr(s, "kettle"));
	free(s);
	/* No consent object at all: the same. */
	const char *b2 = "{\"first_name\":\"Bob\",\"points\":77}";
	s = print(view_kiosk(b2, strlen(b2), &OPTS, NULL, NULL));
	assert_null(strstr(s, "Bob"));
	free(s);
}

static void kiosk_consent_categories_are_separate(void **state)
{
	(void)state;
	/* Only "orders": first name and orders, no tier/points, no episodes. */
	const char *b = "{\"first_name\":\"Cem\",\"tier\":\"gold\",\"points\":5,"
			"\"consent\":{\"show_in_public\":[\"orders\"]},"
			"\"interactions\":[{\"department\":\"orders\",\"summary\":\"Order 1 ready\"}],"
			"\"episodes\":[{\"id\":\"e\",\"status\":\"open\",\"title\":\"Secret case\"}]}";
	struct view_opts o = OPTS;
	o.public_items_max = 1;
	cJSON *v = view_kiosk(b, strlen(b), &o, NULL, NULL);
	assert_string_equal(cJSON_GetObjectItem(v, "first_name")->valuestring, "Cem");
	assert_null(cJSON_GetObjectItem(v, "tier"));
	assert_null(cJSON_GetObjectItem(v, "points"));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(v, "items")), 1);
	char *s = print(v);
	assert_null(strstr(s, "Secret"));
	free(s);
	/* public_items_max 0: no items at all. */
	o.public_items_max = 0;
	v = view_kiosk(FULL, strlen(FULL), &o, NULL, NULL);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(v, "items")), 0);
	cJSON_Delete(v);
}

static void kiosk_defensive_on_odd_bodies(void **state)
{
	(void)state;
	int err = 0;
	assert_null(view_kiosk("[1,2]", 5, &OPTS, NULL, &err));
	assert_true(err < 0);
	assert_null(view_kiosk("{bad", 4, &OPTS, NULL, &err));
	/* Wrong types are treated as absent; unknown language falls back. */
	const char *b = "{\"first_name\":7,\"points\":\"lots\",\"preferences\":{\"language\":\"xx\"},"
			"\"consent\":{\"show_in_public\":\"points\"}}";
	cJSON *v = view_kiosk(b, strlen(b), &OPTS, NULL, &err);
	assert_non_null(v);
	assert_null(cJSON_GetObjectItem(v, "first_name"));
	assert_null(cJSON_GetObjectItem(v, "points"));
	assert_string_equal(cJSON_GetObjectItem(v, "language")->valuestring, "en");
	cJSON_Delete(v);
}

static void states_without_profile(void **state)
{
	(void)state;
	cJSON *v = view_kiosk_state(VIEW_REFUSED, &OPTS, "token_expired", NULL);
	assert_string_equal(cJSON_GetObjectItem(v, "state")->valuestring, "refused");
	assert_string_equal(cJSON_GetObjectItem(v, "reason")->valuestring, "token_expired");
	assert_int_equal(cJSON_GetObjectItem(v, "idle_after_ms")->valueint, 8000);
	cJSON_Delete(v);
	v = view_kiosk_state(VIEW_IDLE, &OPTS, NULL, NULL);
	assert_string_equal(cJSON_GetObjectItem(v, "state")->valuestring, "idle");
	assert_null(cJSON_GetObjectItem(v, "idle_after_ms"));
	cJSON_Delete(v);
}

static void handheld_sees_everything(void **state)
{
	(void)state;
	cJSON *v = view_handheld("p-1", FULL, strlen(FULL), NULL);
	assert_non_null(v);
	assert_string_equal(cJSON_GetObjectItem(v, "id")->valuestring, "p-1");
	assert_string_equal(cJSON_GetObjectItem(v, "name")->valuestring, "Anna Schmidt");
	assert_string_equal(cJSON_GetObjectItem(v, "home_store")->valuestring, "0042");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(v, "consent"), "show_in_public")));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(v, "episodes")), 2);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(v, "interactions")), 3);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(v, "interactions"), 0), "at")->valuestring,
			    "2025-11-20T10:00:00Z");
	cJSON_Delete(v);
}

static void local_edits(void **state)
{
	(void)state;
	bool found = false;
	char *b = view_edit_note(FULL, strlen(FULL), "Prefers mornings", "2026-01-01T00:00:00Z");
	assert_non_null(b);
	cJSON *v = view_handheld("p-1", b, strlen(b), NULL);
	cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(v, "interactions"), 0);
	assert_string_equal(cJSON_GetObjectItem(first, "summary")->valuestring, "Prefers mornings");
	cJSON_Delete(v);

	char *b2 = view_edit_episode_open(b, strlen(b), "e-new", "kitchen", "New hob", "t");
	char *b3 = view_edit_episode_resolve(b2, strlen(b2), "e-17", &found);
	assert_true(found);
	v = view_handheld("p-1", b3, strlen(b3), NULL);
	cJSON *eps = cJSON_GetObjectItem(v, "episodes");
	assert_int_equal(cJSON_GetArraySize(eps), 3);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(eps, 0), "status")->valuestring, "resolved");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(eps, 2), "title")->valuestring, "New hob");
	cJSON_Delete(v);
	free(view_edit_episode_resolve(b3, strlen(b3), "e-missing", &found));
	assert_false(found);

	cJSON *none = cJSON_CreateArray();
	char *b4 = view_edit_consent(b3, strlen(b3), none);
	cJSON_Delete(none);
	v = view_kiosk(b4, strlen(b4), &OPTS, NULL, NULL);
	char *s = print(v);
	assert_null(strstr(s, "Anna")); /* consent withdrawn: the kiosk stops naming her */
	free(s);
	free(b);
	free(b2);
	free(b3);
	free(b4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kiosk_with_full_consent),
		cmocka_unit_test(kiosk_without_consent_shows_nothing_personal),
		cmocka_unit_test(kiosk_consent_categories_are_separate),
		cmocka_unit_test(kiosk_defensive_on_odd_bodies),
		cmocka_unit_test(states_without_profile),
		cmocka_unit_test(handheld_sees_everything),
		cmocka_unit_test(local_edits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
