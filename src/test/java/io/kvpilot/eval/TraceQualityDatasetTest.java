package io.kvpilot.eval;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvpilot.kvcache.KvCompressionSpec;
import org.junit.jupiter.api.Test;

/** The trace replay's quality of a continuation (bench/trace_replay.py lcs_agreement), as the data set computes it. */
class TraceQualityDatasetTest {

    @Test
    void wordAgreementIsTheLongestCommonSubsequenceOverTheReferenceLength() {
        assertThat(TraceQualityDataset.wordAgreement("the cat sat on the mat", "the cat sat on the mat")).isEqualTo(1.0);
        // "the cat on mat" is common: 4 of the reference's 6 words
        assertThat(TraceQualityDataset.wordAgreement("the cat sat on the mat", "a the cat on a mat"))
                .isEqualTo(4.0 / 6.0);
        assertThat(TraceQualityDataset.wordAgreement("one two", "")).isZero();
        assertThat(TraceQualityDataset.wordAgreement("  ", "")).isEqualTo(1.0);
        assertThat(TraceQualityDataset.wordAgreement("", "extra")).isZero();
        // whitespace runs and newlines separate words as Python's str.split() does
        assertThat(TraceQualityDataset.wordAgreement("a\nb  c", "a b\tc")).isEqualTo(1.0);
    }

    @Test
    void theGridIsUncompressedFirstThenQuantizationAloneThenMethodsByRatioAndBits() {
        var grid = TraceQualityDataset.grid("keydiff,snapkv", "0.25,0.5", "16,8", "8,4");
        assertThat(grid).hasSize(1 + 2 + 2 * 2 * 2);
        assertThat(grid.get(0)).isEqualTo(KvCompressionSpec.NONE);
        assertThat(grid.get(1)).isEqualTo(new KvCompressionSpec("none", 0.0, 8));
        assertThat(grid.get(3)).isEqualTo(new KvCompressionSpec("keydiff", 0.25, 16));
        assertThat(grid.get(grid.size() - 1)).isEqualTo(new KvCompressionSpec("snapkv", 0.5, 8));
    }
}
