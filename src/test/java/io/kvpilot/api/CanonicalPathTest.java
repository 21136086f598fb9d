package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class CanonicalPathTest {

    @ParameterizedTest
    @ValueSource(strings = {"/", "/v1/completions", "/actuator/metrics/jvm.memory.used", "/a-b_c~d", "/...", "/.a",
        "/a..b"})
    void oneReadingIsCanonical(String path) {
        assertThat(CanonicalPath.isCanonical(path)).isTrue();
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "v1", "/v1;x/completions", "/%76%31/completions", "/v1%2Fcompletions",
        "/v1/completions/", "//v1/completions", "/v1//completions", "/./v1", "/v1/..", "/x/../v1", "/..;/v1",
        "/admin\\scheduler", "/v1/models?x", "/v1/m odels", "/v1/modèls", "/v1/m:odels", "/v1/m@odels"})
    void everyOtherFormIsNot(String path) {
        assertThat(CanonicalPath.isCanonical(path)).isFalse();
    }
}
