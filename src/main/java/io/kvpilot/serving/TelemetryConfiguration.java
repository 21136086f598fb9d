package io.kvpilot.serving;

import io.kvpilot.telemetry.ResidentMemory;
import io.kvpilot.telemetry.ServingMetrics;
import io.kvpilot.telemetry.Telemetry;
import io.micrometer.core.instrument.config.MeterFilter;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * The telemetry the controller reads (a {@link Telemetry} the scheduler feeds, exported through Micrometer as a
 * meter binder) and the {@code model_name} tag on every {@code kvpilot.*} meter.
 */
@Configuration(proxyBeanMethods = false)
class TelemetryConfiguration {

    @Bean
    Telemetry telemetry() {
        return new Telemetry(System::nanoTime, ResidentMemory.ofThisProcess(System::nanoTime));
    }

    @Bean
    MeterFilter modelNameTag(ServingProperties properties) {
        return ServingMetrics.modelNameTag(servedModelId(properties));
    }

    /** The id {@code /v1/models} serves the model under: its checkpoint directory's name, as the engine names it. */
    static String servedModelId(ServingProperties properties) {
        java.nio.file.Path name = properties.model().path().toAbsolutePath().normalize().getFileName();
        return name == null ? "model" : name.toString();
    }
}
