/* View models: what each role may see of a cached profile body. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/json.h"
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

/* ---- screen.privacy and configured texts (docs/config.md) ---- */

static const char *str(const cJSON *v, const char *k)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(v, k);
	return cJSON_IsString(x) ? x->valuestring : NULL;
}

static void privacy_first_name_shows_only_the_name(void **state)
{
	(void)state;
	struct view_opts o = OPTS;
	o.privacy = VIEW_PRIVACY_FIRST_NAME;
	cJSON *v = view_kiosk(FULL, strlen(FULL), &o, NULL, NULL);
	assert_non_null(v);
	assert_string_equal(str(v, "first_name"), "Anna");
	char *s = print(v);
	assert_null(strstr(s, "gold"));
	assert_null(strstr(s, "1200"));
	assert_null(strstr(s, "Order 7001"));
	assert_null(strstr(s, "Dishwasher"));
	assert_null(strstr(s, "warranty"));
	assert_null(strstr(s, "\"items\""));
	free(s);
}

static void privacy_anonymous_never_names(void **state)
{
	(void)state;
	struct view_opts o = OPTS;
	o.privacy = VIEW_PRIVACY_ANONYMOUS;
	/* A greeting that needs the name is left out (the UI's generic one shows) ... */
	snprintf(o.text[1].greeting, sizeof o.text[1].greeting, "Hallo {name}!");
	cJSON *v = view_kiosk(FULL, strlen(FULL), &o, NULL, NULL);
	char *s = print(v);
	assert_non_null(strstr(s, "\"state\":\"greeting\""));
	assert_null(strstr(s, "Anna"));
	assert_null(strstr(s, "gold"));
	assert_null(strstr(s, "1200"));
	assert_null(strstr(s, "Order"));
	assert_null(strstr(s, "Hallo"));
	free(s);
	/* ... one without {name} is shown as it is. */
	snprintf(o.text[1].greeting, sizeof o.text[1].greeting, "Schön, dass Sie da sind!");
	v = view_kiosk(FULL, strlen(FULL), &o, NULL, NULL);
	assert_string_equal(str(v, "greeting"), "Schön, dass Sie da sind!");
	assert_null(str(v, "first_name"));
	cJSON_Delete(v);
}

static void configured_greeting_fills_in_the_name_in_the_customers_language(void **state)
{
	(void)state;
	struct view_opts o = OPTS;
	snprintf(o.text[0].greeting, sizeof o.text[0].greeting, "Hello again, {name}!");
	snprintf(o.text[1].greeting, sizeof o.text[1].greeting, "{name}, willkommen! ({name})");
	/* Anna prefers German: the German text, every {name} filled in. */
	cJSON *v = view_kiosk(FULL, strlen(FULL), &o, NULL, NULL);
	assert_string_equal(str(v, "greeting"), "Anna, willkommen! (Anna)");
	assert_string_equal(str(v, "first_name"), "Anna");
	cJSON_Delete(v);
	/* No German text: no greeting (the UI's German built-in, not English). */
	o.text[1].greeting[0] = '\0';
	v = view_kiosk(FULL, strlen(FULL), &o, NULL, NULL);
	assert_null(str(v, "greeting"));
	cJSON_Delete(v);
	/* A name is text, not markup: it goes through as it is (the UI uses
	 * textContent); an overlong one is cut at a character boundary. */
	char body[1200];
	snprintf(body, sizeof body,
		 "{\"first_name\":\"<b>Zoë</b>%0300d\",\"consent\":{\"show_in_public\":"
		 "[\"points\"]}}",
		 0);
	/* more UTF-8 further on, so the cut may fall inside a character */
	for (char *p = strstr(body, "</b>") + 4; p[0] == '0' && p[1] == '0'; p += 2)
		memcpy(p, "\xc3\xab", 2);
	snprintf(o.text[0].greeting, sizeof o.text[0].greeting, "Hi {name} {name}");
	v = view_kiosk(body, strlen(body), &o, NULL, NULL);
	const char *g = str(v, "greeting");
	assert_non_null(g);
	assert_int_equal(strncmp(g, "Hi <b>Zoë</b>", strlen("Hi <b>Zoë</b>")), 0);
	assert_true(strlen(g) <= VIEW_GREETING_MAX);
	assert_true(strlen(g) > VIEW_GREETING_MAX - 4); /* it was cut, not dropped */
	assert_int_equal(rg_utf8_valid(g, strlen(g)), 1);
	cJSON_Delete(v);
	/* Without public-display consent nobody is named, whatever the level. */
	const char *b2 = "{\"first_name\":\"Bob\",\"consent\":{\"show_in_public\":[]}}";
	snprintf(o.text[0].greeting, sizeof o.text[0].greeting, "Hello {name}");
	v = view_kiosk(b2, strlen(b2), &o, NULL, NULL);
	assert_null(str(v, "greeting"));
	assert_null(str(v, "first_name"));
	cJSON_Delete(v);
}

static void texts_for_idle_unknown_and_closed(void **state)
{
	(void)state;
	struct view_opts o = OPTS;
	snprintf(o.text[0].welcome, sizeof o.text[0].welcome, "Welcome to Store 42");
	snprintf(o.text[0].unknown, sizeof o.text[0].unknown, "New here? Ask us for a card");
	snprintf(o.text[0].closed, sizeof o.text[0].closed, "Closed - open at 8");
	cJSON *v = view_kiosk_state(VIEW_IDLE, &o, NULL, NULL);
	assert_string_equal(str(v, "state"), "idle");
	assert_string_equal(str(v, "greeting_idle"), "Welcome to Store 42");
	assert_null(str(v, "greeting"));
	cJSON_Delete(v);
	v = view_kiosk_state(VIEW_UNKNOWN, &o, NULL, NULL);
	assert_string_equal(str(v, "greeting"), "New here? Ask us for a card");
	assert_string_equal(str(v, "greeting_idle"), "Welcome to Store 42");
	assert_non_null(cJSON_GetObjectItem(v, "idle_after_ms"));
	cJSON_Delete(v);
	v = view_kiosk_state(VIEW_CLOSED, &o, NULL, NULL);
	assert_string_equal(str(v, "state"), "closed");
	assert_string_equal(str(v, "greeting"), "Closed - open at 8");
	assert_null(cJSON_GetObjectItem(v, "idle_after_ms")); /* stays until it opens */
	cJSON_Delete(v);
	/* Nothing configured: only the state (the UI's built-in texts). */
	v = view_kiosk_state(VIEW_CLOSED, &OPTS, NULL, NULL);
	char *s = print(v);
	assert_string_equal(s, "{\"state\":\"closed\",\"language\":\"en\",\"default_language\":\"en\"}");
	free(s);
	assert_string_equal(view_state_name(VIEW_CLOSED), "closed");
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
		cmocka_unit_test(privacy_first_name_shows_only_the_name),
		cmocka_unit_test(privacy_anonymous_never_names),
		cmocka_unit_test(configured_greeting_fills_in_the_name_in_the_customers_language),
		cmocka_unit_test(texts_for_idle_unknown_and_closed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
