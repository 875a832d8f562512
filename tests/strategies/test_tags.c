/* test_tags.c - tags: functions tag their keys from templates, delete_tags removes every key
 * of a tag through the tag's set, and the registry says which tags a key may carry. */
#include "func_helpers.h"

static int delete_tags_removes_tagged_keys(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    cw_func *items = CW_FUNC(c, count_loader, .loader_ud = &n, .args = "page", .key = "items:{page}", .ttl = "1h",
                             .tags = (const char *const[]){ "items", "page:{page}" }, .ntags = 2);
    CHECK(items);
    cw_value v = { 0 };
    for (int p = 1; p <= 3; p++) CHECK_OK(CW_CALL(items, &v, CW_ARG_INT(p)));
    CHECK_OK(cw_set(c, "unrelated", "x", 1, 60000));
    uint64_t deleted = 0;
    CHECK_OK(cw_delete_tags(c, (const char *const[]){ "page:2" }, 1, &deleted));
    CHECK_EQ_INT(deleted, 1);
    CHECK_EQ_INT(cw_exists(c, "items:2"), CW_NOTFOUND);
    CHECK_OK(cw_exists(c, "items:1"));
    CHECK_CALL_VAL(items, v, "v1:1", CW_ARG_INT(1));
    CHECK_CALL_VAL(items, v, "v4:2", CW_ARG_INT(2)); /* reloaded and tagged again */
    CHECK_OK(cw_delete_tags(c, (const char *const[]){ "items", "nothing-here" }, 2, &deleted));
    CHECK_EQ_INT(deleted, 3);
    for (int p = 1; p <= 3; p++) {
        char k[16];
        snprintf(k, sizeof k, "items:%d", p);
        CHECK_EQ_INT(cw_exists(c, k), CW_NOTFOUND);
    }
    CHECK_OK(cw_exists(c, "unrelated"));
    CHECK_ST(cw_delete_tags(c, (const char *const[]){ "" }, 1, NULL), CW_EINVAL);
    cw_value_free(&v);
    cw_func_free(items);
    cw_cache_free(c);
    return 0;
}

static int many_keys_in_one_tag(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    counter n = { 0 };
    cw_func *f = CW_FUNC(c, count_loader, .loader_ud = &n, .args = "id", .key = "m:{id}", .ttl = "1h",
                         .tags = (const char *const[]){ "all" }, .ntags = 1);
    CHECK(f);
    cw_value v = { 0 };
    for (int i = 0; i < 250; i++) CHECK_OK(CW_CALL(f, &v, CW_ARG_INT(i))); /* more than one pop batch */
    uint64_t deleted = 0, count = 0;
    CHECK_OK(cw_delete_tags(c, (const char *const[]){ "all" }, 1, &deleted));
    CHECK_EQ_INT(deleted, 250);
    CHECK_OK(cw_get_keys_count(c, &count));
    CHECK_EQ_INT(count, 0);
    cw_value_free(&v);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

typedef struct tag_list { char text[256]; } tag_list;

static int add_tag(void *ud, const char *key, size_t klen, const void *val, size_t vlen)
{
    (void)val; (void)vlen;
    tag_list *t = ud;
    size_t n = strlen(t->text);
    snprintf(t->text + n, sizeof t->text - n, "%s%.*s", n ? "," : "", (int)klen, key);
    return 0;
}

static int registry_checks_tags(void)
{
    cw_fake_clock fc;
    cw_cache *c = helper_cache(&fc);
    CHECK_OK(cw_register_tag(c, "my_tag", "key{i}"));
    CHECK_OK(cw_register_tag(c, "page:{i}", "key{i}"));
    CHECK_OK(cw_register_tag(c, "user:{id:upper}", "user:{id}:profile"));
    CHECK_OK(cw_check_tags(c, "key1", (const char *const[]){ "my_tag", "page:1" }, 2));
    CHECK_ST(cw_check_tags(c, "key1", (const char *const[]){ "page:2" }, 1), CW_EINVAL);
    CHECK(strstr(cw_cache_errmsg(c), "tag \"page:2\" is not registered for key \"key1\""));
    CHECK_ST(cw_check_tags(c, "other", (const char *const[]){ "my_tag" }, 1), CW_EINVAL);
    CHECK_OK(cw_check_tags(c, "user:ab:profile", (const char *const[]){ "user:AB" }, 1));
    tag_list t = { "" };
    CHECK_OK(cw_get_key_tags(c, "key7", add_tag, &t));
    CHECK_STR(t.text, "page:7,my_tag");
    /* Cached functions register their tags with their key template. */
    counter n = { 0 };
    cw_func *f = CW_FUNC(c, count_loader, .loader_ud = &n, .args = "page", .key = "items:{page}", .ttl = "1h",
                         .tags = (const char *const[]){ "page:{page}" }, .ntags = 1);
    CHECK(f);
    CHECK_OK(cw_check_tags(c, "items:9", (const char *const[]){ "page:9" }, 1));
    CHECK_ST(cw_register_tag(c, "t:{x.y}", "k{x}"), CW_EINVAL);
    CHECK_ST(cw_register_tag(c, "t", ""), CW_EINVAL);
    cw_func_free(f);
    cw_cache_free(c);
    return 0;
}

static const cw_test tests[] = {
    CW_TEST(delete_tags_removes_tagged_keys),
    CW_TEST(many_keys_in_one_tag),
    CW_TEST(registry_checks_tags),
    { 0 },
};

int main(int argc, char **argv) { return cw_test_main(tests, argc, argv); }
