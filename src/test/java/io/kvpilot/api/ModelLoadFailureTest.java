package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvpilot.KvPilotApplication;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** A model that cannot load ends the real application with a non-zero status and one clear message. */
class ModelLoadFailureTest {

    @Test
    void aMissingCheckpointExitsNonZeroNamingThePath() throws Exception {
        try (ServiceProcess service = ServiceProcess.start(KvPilotApplication.class.getName(),
                Map.of("KVPILOT_MODEL_PATH", "/nonexistent/kvpilot-model"), List.of())) {
            assertThat(service.process.waitFor(60, TimeUnit.SECONDS)).as("exited").isTrue();
            assertThat(service.process.exitValue()).as(service.output()).isEqualTo(3);
            assertThat(service.output()).contains("Loading the model failed")
                    .contains("/nonexistent/kvpilot-model is not a checkpoint directory");
        }
    }
}
