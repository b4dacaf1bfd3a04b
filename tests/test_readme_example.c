/*
 * test_readme_example.c — compiles and runs the README's C example (examples/readme_example.c) and
 * checks that the README shows exactly that file, so the example cannot rot.
 */
#define main readme_example_main
#include "../examples/readme_example.c"
#undef main

#include "check.h"

static char *read_file(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (!file) return NULL;
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, 0, SEEK_SET);
    char *text = calloc(1, (size_t)size + 1);
    if (fread(text, 1, (size_t)size, file) != (size_t)size) text[0] = 0;
    fclose(file);
    return text;
}

int main(void)
{
    CHECK(readme_example_main() == 0);
    char *readme = read_file(FUSEGRAPH_SOURCE_DIR "/README.md");
    char *example = read_file(FUSEGRAPH_SOURCE_DIR "/examples/readme_example.c");
    CHECK(readme && example);
    if (readme && example) CHECK(strstr(readme, example) != NULL);
    free(readme), free(example);
    return check_finish("test_readme_example");
}
