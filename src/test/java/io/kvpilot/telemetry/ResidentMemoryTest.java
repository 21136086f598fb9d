package io.kvpilot.telemetry;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** RSS from /proc/self/status: parsed in bytes, re-read at most once a second. */
class ResidentMemoryTest {

    @TempDir
    Path dir;

    @Test
    void vmRssIsParsedInBytes() {
        String status = "Name:\tjava\nVmPeak:\t 9999999 kB\nVmRSS:\t  123456 kB\nRssAnon:\t 100000 kB\n";

        assertThat(ResidentMemory.parseVmRss(status)).isEqualTo(123_456L * 1024);
        assertThat(ResidentMemory.parseVmRss("Name:\tjava\n")).isZero();
    }

    @Test
    void theFileIsReadAgainOnlyAfterASecond() throws Exception {
        Path status = dir.resolve("status");
        Files.writeString(status, "VmRSS:\t 1000 kB\n");
        AtomicLong clock = new AtomicLong(5_000_000_000L);
        ResidentMemory rss = new ResidentMemory(status, clock::get);

        assertThat(rss.bytes()).isEqualTo(1_024_000L);
        Files.writeString(status, "VmRSS:\t 2000 kB\n");
        clock.addAndGet(999_999_999L);
        assertThat(rss.bytes()).as("within the second: the sample").isEqualTo(1_024_000L);
        clock.addAndGet(1L);
        assertThat(rss.bytes()).isEqualTo(2_048_000L);
    }

    @Test
    void thisProcessHasAResidentSetOfAtLeastItsHeapInUse() {
        ResidentMemory rss = ResidentMemory.ofThisProcess(System::nanoTime);
        Runtime rt = Runtime.getRuntime();
        byte[] touched = new byte[32 << 20];
        java.util.Arrays.fill(touched, (byte) 1);

        assertThat(rss.bytes()).isGreaterThan(touched.length)
                .isGreaterThan(rt.totalMemory() - rt.freeMemory() - (64L << 20));
    }

    @Test
    void aMissingFileReadsAsZero() {
        assertThat(new ResidentMemory(dir.resolve("none"), System::nanoTime).bytes()).isZero();
    }
}
