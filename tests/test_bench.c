/* `climp bench` pieces that need no device: the analytic FLOP counts against the figures of
 * reference/architecture.md §6 (VMamba-T/B, Mamba-1.4B, Mamba2-1.3B) and ViT-B/16's known cost,
 * the statistics, and the JSON schema validator (the stored example passes; documents broken in
 * one place each fail, including the plain-C reference block of schema 2; schema 1 documents
 * still pass). `test_bench --validate FILE...` validates result files (tests/cli_bench.sh).
 * Implementation under test: trainer/bench_flops.c, bench.c, bench_json.c. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"
#include "trainer/bench.h"

static int near(double got, double want, double rel) {
    return fabs(got - want) <= rel * fabs(want);
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    long n = -1;
    if (!fseek(f, 0, SEEK_END) && (n = ftell(f)) >= 0 && !fseek(f, 0, SEEK_SET) &&
        (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        buf[n] = 0;
    } else {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

static void test_flops(void) {
    climp_config c;
    climp_flops f;
    /* §6.3: VMamba-T s2l5 at 224 with its 1000-class head: 4.858 G (fvcore), MAC 4.716 G,
     * scan 0.108 G, LayerNorm 0.033 G. */
    CLIMP_CHECK(climp_config_preset("vmamba-t+mamba-130m", &c));
    climp_flops_vision(&c.vision, 224, 224, 1000, &f);
    tu_check(near(climp_flops_fvcore(&f), 4.858e9, 2e-3), "VMamba-T@224 total %.4g",
             climp_flops_fvcore(&f));
    tu_check(near(f.mac, 4.716e9, 2e-3), "VMamba-T@224 MAC %.4g", f.mac);
    tu_check(near(f.scan, 0.108e9, 1e-2), "VMamba-T@224 scan %.4g", f.scan);
    tu_check(near(f.norm, 0.033e9, 2e-2), "VMamba-T@224 LayerNorm %.4g", f.norm);
    /* VMamba-B s2l15: 15.359 G at 224 with head; 80.24 G at 512 and 245.73 G at 896 without. */
    CLIMP_CHECK(climp_config_preset("climp-b-mamba1", &c));
    climp_flops_vision(&c.vision, 224, 224, 1000, &f);
    tu_check(near(climp_flops_fvcore(&f), 15.359e9, 1e-3), "VMamba-B@224 %.5g",
             climp_flops_fvcore(&f));
    climp_flops_vision(&c.vision, 512, 512, 0, &f);
    tu_check(near(climp_flops_fvcore(&f), 80.24e9, 1e-3), "VMamba-B@512 %.5g",
             climp_flops_fvcore(&f));
    climp_flops_vision(&c.vision, 896, 896, 0, &f);
    double vm896 = climp_flops_fvcore(&f);
    tu_check(near(vm896, 245.73e9, 1e-3), "VMamba-B@896 %.5g", vm896);
    tu_check(near(climp_flops_hw(&f), 486.83e9, 1e-3), "VMamba-B@896 hardware FLOPs %.5g",
             climp_flops_hw(&f));
    /* §6.1: Mamba-1.4B, per layer and token 26,361,856 MAC and 598,016 scan FLOPs. */
    climp_flops_text(&c.text, 1, 0, &f);
    tu_check(f.mac == 48.0 * 26361856, "Mamba-1.4B MAC per token %.0f", f.mac);
    tu_check(f.scan == 48.0 * 598016, "Mamba-1.4B scan per token %.0f", f.scan);
    tu_check(near(2 * f.mac, 2.53e9, 1e-2), "Mamba-1.4B about 2.5 GFLOP per token (2 x MAC)");
    climp_flops_text(&c.text, 10, 768, &f);
    tu_check(f.mac == 480.0 * 26361856 + 768.0 * 2048, "projection counted once per caption");
    /* Mamba2-1.3B: projection MACs 25,838,592 per layer and token. */
    CLIMP_CHECK(climp_config_preset("climp-b-mamba2", &c));
    climp_flops_text(&c.text, 1, 0, &f);
    tu_check(f.mac == 48.0 * 25838592, "Mamba2-1.3B MAC per token %.0f", f.mac);
    /* ViT-B/16 at 224: 17.56 GMAC (the published "17.6 GFLOPs"); at 896 VMamba-B needs about
     * 1.8x fewer (the CLIMP paper's claim). */
    climp_vit_cost v;
    climp_flops_vit_b16(224, 224, &v);
    tu_check(v.tokens == 197, "ViT tokens %d", v.tokens);
    tu_check(near(v.flops.mac, 17.56e9, 5e-3), "ViT-B/16@224 MAC %.4g", v.flops.mac);
    tu_check(v.attn_bytes_layer == 12.0 * 197 * 197 * 4, "ViT attention bytes per layer");
    climp_flops_vit_b16(896, 896, &v);
    double ratio = climp_flops_fvcore(&v.flops) / vm896;
    tu_check(ratio > 1.75 && ratio < 1.9, "ViT-B/16 / VMamba-B FLOPs at 896 = %.3f", ratio);
    /* Training step of a pair: forward of both towers; B enters through the loss only. */
    CLIMP_CHECK(climp_config_preset("tiny", &c));
    double p4 = climp_flops_pair_forward(&c, 32, 32, 16, 4);
    double p8 = climp_flops_pair_forward(&c, 32, 32, 16, 8);
    tu_check(p8 - p4 == 2.0 * 4 * c.embed_dim, "loss FLOPs per pair grow with B");
}

static void test_stats(void) {
    climp_bench_stats st;
    memset(&st, 0, sizeof(st));
    double x[5] = {3, 1, 4, 1, 5};
    st.n = 5;
    memcpy(st.samples, x, sizeof(x));
    climp_bench_stats_finish(&st);
    tu_check(st.median == 3 && st.min == 1 && st.max == 5, "odd median/min/max");
    tu_check(near(st.mean, 2.8, 1e-12), "mean");
    tu_check(near(st.stddev, sqrt(((0.04 + 3.24 + 1.44 + 3.24 + 4.84)) / 4), 1e-12), "stddev");
    tu_check(st.samples[0] == 3, "raw samples keep their order");
    tu_check(isnan(st.cpu_median) && isnan(st.cpu_min), "no CPU time where none was measured");
    st.n = 4;
    climp_bench_stats_finish(&st);
    tu_check(st.median == 2, "even median %g", st.median);
}

/* The example must validate; each mutation must be caught. */
static void test_schema(const char *path) {
    char *txt = slurp(path);
    tu_check(txt != NULL, "read %s", path);
    if (!txt) return;
    char err[256];
    int bad = climp_bench_validate(txt, err, sizeof(err));
    tu_check(!bad, "%s validates (%s)", path, err);
    cJSON *doc = cJSON_Parse(txt);
    free(txt);
    tu_check(doc && cJSON_GetArraySize(cJSON_GetObjectItem(doc, "kernels")) > 0 &&
                 cJSON_GetArraySize(cJSON_GetObjectItem(doc, "train")) > 0 &&
                 cJSON_GetArraySize(cJSON_GetObjectItem(doc, "infer")) > 0 &&
                 cJSON_GetArraySize(cJSON_GetObjectItem(doc, "scaling")) > 0,
             "the example has every section");
    if (!doc) return;
    static const char *const breaks[] = {"schema_version", "no provenance.git_commit",
                                         "min > median", "samples length", "tool",
                                         "no kernel flops", "negative GB/s", "scaling status",
                                         "no vit_b16", "null peak", "no reference",
                                         "reference status", "reference without time",
                                         "speedup != reference / device", "skipped with speedup",
                                         "reference min > median", "no settings.reference",
                                         "schema_version 0"};
    for (size_t i = 0; i < sizeof(breaks) / sizeof(breaks[0]); i++) {
        cJSON *d = cJSON_Duplicate(doc, 1);
        cJSON *k0 = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "kernels"), 0);
        cJSON *t = cJSON_GetObjectItem(k0, "time");
        cJSON *ref = cJSON_GetObjectItem(k0, "reference");
        cJSON *img = NULL, *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(d, "scaling"))
            if (!strcmp(cJSON_GetObjectItem(e, "series")->valuestring, "image")) img = e;
        switch (i) {
        case 0: cJSON_ReplaceItemInObject(d, "schema_version", cJSON_CreateNumber(99)); break;
        case 1: cJSON_DeleteItemFromObject(cJSON_GetObjectItem(d, "provenance"), "git_commit"); break;
        case 2: cJSON_ReplaceItemInObject(t, "min", cJSON_CreateNumber(1e9)); break;
        case 3: cJSON_AddItemToArray(cJSON_GetObjectItem(t, "samples"), cJSON_CreateNumber(1)); break;
        case 4: cJSON_ReplaceItemInObject(d, "tool", cJSON_CreateString("other")); break;
        case 5: cJSON_DeleteItemFromObject(k0, "flops"); break;
        case 6: cJSON_ReplaceItemInObject(k0, "gbps", cJSON_CreateNumber(-1)); break;
        case 7: cJSON_ReplaceItemInObject(img, "status", cJSON_CreateString("fine")); break;
        case 8: cJSON_DeleteItemFromObject(img, "vit_b16"); break;
        case 10: cJSON_DeleteItemFromObject(k0, "reference"); break;
        case 11: cJSON_ReplaceItemInObject(ref, "status", cJSON_CreateString("fine")); break;
        case 12: cJSON_DeleteItemFromObject(ref, "time"); break;
        case 13: {
            double sp = cJSON_GetObjectItem(k0, "speedup_vs_reference")->valuedouble;
            cJSON_ReplaceItemInObject(k0, "speedup_vs_reference", cJSON_CreateNumber(1.01 * sp));
            break;
        }
        case 14: cJSON_ReplaceItemInObject(ref, "status", cJSON_CreateString("skipped")); break;
        case 15:
            cJSON_ReplaceItemInObject(cJSON_GetObjectItem(ref, "time"), "min",
                                      cJSON_CreateNumber(1e9));
            break;
        case 16: cJSON_DeleteItemFromObject(cJSON_GetObjectItem(d, "settings"), "reference"); break;
        case 17: cJSON_ReplaceItemInObject(d, "schema_version", cJSON_CreateNumber(0)); break;
        default:
            cJSON_ReplaceItemInObject(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "device"),
                                                          "peaks"),
                                      "gflops", cJSON_CreateNull());
        }
        char *s = cJSON_PrintUnformatted(d);
        int rejected = climp_bench_validate(s, err, sizeof(err));
        tu_check(rejected, "mutation '%s' is rejected", breaks[i]);
        if (rejected) printf("  mutation '%s': %s\n", breaks[i], err);
        cJSON_free(s);
        cJSON_Delete(d);
    }
    /* Schema 2 readers accept version 1 (no references; the PyTorch baseline writes 1) and a
     * case whose reference was skipped (speedup null). */
    cJSON *k0 = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "kernels"), 0);
    tu_check(k0 && cJSON_IsObject(cJSON_GetObjectItem(k0, "reference")) &&
                 cJSON_IsNumber(cJSON_GetObjectItem(k0, "speedup_vs_reference")),
             "the example's first kernel has a timed reference");
    cJSON *d = cJSON_Duplicate(doc, 1);
    cJSON *dk = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "kernels"), 0);
    cJSON *dr = cJSON_GetObjectItem(dk, "reference");
    cJSON_ReplaceItemInObject(dr, "status", cJSON_CreateString("skipped"));
    cJSON_DeleteItemFromObject(dr, "time");
    cJSON_ReplaceItemInObject(dk, "speedup_vs_reference", cJSON_CreateNull());
    char *txt2 = cJSON_PrintUnformatted(d);
    tu_check(!climp_bench_validate(txt2, err, sizeof(err)), "a skipped reference validates (%s)",
             err);
    cJSON_free(txt2);
    cJSON_ReplaceItemInObject(d, "schema_version", cJSON_CreateNumber(1));
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(d, "settings"), "reference");
    cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(d, "kernels")) {
        cJSON_DeleteItemFromObject(e, "reference");
        cJSON_DeleteItemFromObject(e, "speedup_vs_reference");
    }
    txt2 = cJSON_PrintUnformatted(d);
    tu_check(!climp_bench_validate(txt2, err, sizeof(err)), "schema 1 still validates (%s)", err);
    cJSON_free(txt2);
    cJSON_Delete(d);
    cJSON_Delete(doc);
    tu_check(climp_bench_validate("[1, 2]", err, sizeof(err)) != 0, "an array is rejected");
    tu_check(climp_bench_validate("{", err, sizeof(err)) != 0, "broken JSON is rejected");
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--validate")) {
        int bad = argc < 3;
        for (int i = 2; i < argc; i++) {
            char *txt = slurp(argv[i]), err[256] = "cannot read the file";
            if (!txt || climp_bench_validate(txt, err, sizeof(err))) {
                printf("%s: INVALID: %s\n", argv[i], err);
                bad = 1;
            } else {
                printf("%s: valid\n", argv[i]);
            }
            free(txt);
        }
        return bad;
    }
    test_flops();
    test_stats();
    const char *src = getenv("CLIMP_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/data/bench_example.json", src ? src : ".");
    test_schema(path);
    return tu_finish("bench");
}
