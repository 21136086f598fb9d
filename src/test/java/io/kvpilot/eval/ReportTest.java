package io.kvpilot.eval;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.kvpilot.eval.CompressionEval.Row;
import io.kvpilot.kvcache.KvCompressionSpec;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A cell measured on fewer prompts than the baseline (a run cut short, a smaller grid) is compared like for like. */
class ReportTest {

    private static Row ppl(int trial, String method, double ratio, double nll) {
        return new Row("ppl", "heldout", 1024, 0, trial, method, ratio, 16, 0, nll, 256, 0, 0, "");
    }

    private static Row passkey(int trial, String method, double ratio, int correct) {
        return new Row("passkey", "synthetic", 512, 50, trial, method, ratio, 16, correct, Double.NaN, 0, 0, 0, "");
    }

    @Test
    void perplexityRatioUsesTheBaselineOfTheSameWindows() {
        // window 0 is easy text, window 1 hard; the cell only ran window 0 and lost nothing on it
        List<Row> rows = List.of(ppl(0, "none", 0, 256 * 2.0), ppl(1, "none", 0, 256 * 4.0), ppl(0, "snapkv", 0.5, 256 * 2.0));
        assertThat(Report.pplRatio(rows, new KvCompressionSpec("snapkv", 0.5, 16))).isCloseTo(1.0, within(1e-12));
        // against all windows the cell would have looked better than uncompressed: exp(2) / exp(3)
        assertThat(Report.agg(rows, new KvCompressionSpec("snapkv", 0.5, 16), Report.task("ppl")).ppl()
                / Report.agg(rows, Report.BASE, Report.task("ppl")).ppl()).isCloseTo(Math.exp(-1), within(1e-9));
    }

    @Test
    void relativeAccuracyUsesTheBaselineOfTheSamePrompts() {
        List<Row> rows = List.of(passkey(0, "none", 0, 1), passkey(1, "none", 0, 0), passkey(0, "h2o", 0.5, 1),
                passkey(1, "h2o", 0.75, 0));
        assertThat(Report.relAcc(rows, new KvCompressionSpec("h2o", 0.5, 16), "passkey")).isEqualTo(1.0);
        assertThat(Report.relAcc(rows, new KvCompressionSpec("h2o", 0.75, 16), "passkey")).isNaN(); // 0 / 0: no signal
    }

    @Test
    void rawFilesWithAnFp16ReferenceAreReadAsTheFp32BytesUncompressed(@org.junit.jupiter.api.io.TempDir
            java.nio.file.Path dir) throws java.io.IOException {
        String row = "passkey,synthetic,512,50,0,snapkv,0.50,16,1,,0,1000,4096,\"x\"";
        java.nio.file.Path old = dir.resolve("old.csv");
        java.nio.file.Files.writeString(old, "# cmd\n" + CompressionEval.RAW_HEADER.replace("bytes_uncompressed",
                "fp16_bytes") + "\n" + row + "\n");
        java.nio.file.Path current = dir.resolve("current.csv");
        java.nio.file.Files.writeString(current, CompressionEval.RAW_HEADER + "\n" + row + "\n");

        assertThat(CompressionEval.readRaw(old).get(0).bytesUncompressed()).isEqualTo(8192);
        assertThat(CompressionEval.readRaw(current).get(0).bytesUncompressed()).isEqualTo(4096);
    }

    @Test
    void passkeyTablesByLengthAndByDepthCountEachRowInItsColumn() {
        List<Row> rows = List.of(
                new Row("passkey", "synthetic", 512, 10, 0, "h2o", 0.5, 16, 1, Double.NaN, 0, 0, 0, ""),
                new Row("passkey", "synthetic", 512, 50, 1, "h2o", 0.5, 16, 0, Double.NaN, 0, 0, 0, ""),
                new Row("passkey", "synthetic", 1024, 10, 0, "h2o", 0.5, 16, 1, Double.NaN, 0, 0, 0, ""),
                new Row("passkey", "synthetic", 1024, 50, 1, "h2o", 0.5, 16, 1, Double.NaN, 0, 0, 0, ""),
                new Row("passkey", "synthetic", 512, 10, 0, "none", 0.0, 16, 1, Double.NaN, 0, 0, 0, ""));
        StringBuilder md = new StringBuilder();
        Report.byLength(md, rows, List.of("h2o"), new java.util.TreeSet<>(List.of(512, 1024)),
                new java.util.TreeSet<>(List.of(0.0, 0.5)));
        String out = md.toString();
        assertThat(out).contains("| h2o | 0.50 | 50 % | 100 % |\n") // by length: 1 of 2 at 512, 2 of 2 at 1,024
                .contains("| depth 10 % | depth 50 % |")
                .contains("| h2o | 0.50 | 100 % | 50 % |\n"); // by depth: 2 of 2 at 10 %, 1 of 2 at 50 %
    }
}
