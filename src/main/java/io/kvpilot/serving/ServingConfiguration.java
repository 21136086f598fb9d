package io.kvpilot.serving;

import io.github.resilience4j.bulkhead.BulkheadRegistry;
import io.github.resilience4j.circuitbreaker.CircuitBreakerRegistry;
import io.github.resilience4j.ratelimiter.RateLimiterRegistry;
import io.github.resilience4j.timelimiter.TimeLimiterRegistry;
import io.kvpilot.kvcache.press.KvMethods;
import io.kvpilot.telemetry.ServingMetrics;
import io.kvpilot.telemetry.Telemetry;
import io.micrometer.core.instrument.MeterRegistry;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.lang.management.ManagementFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** Wires the scheduler, its engine and the Resilience4j instances named {@code generation}. */
@Configuration(proxyBeanMethods = false)
class ServingConfiguration {

    private static final Logger log = LoggerFactory.getLogger(ServingConfiguration.class);

    @Bean
    ServingMetrics servingMetrics(MeterRegistry registry, ObjectProvider<PrometheusRegistry> prometheus,
            ServingProperties properties) {
        return new ServingMetrics(registry, prometheus.getIfAvailable(),
                TelemetryConfiguration.servedModelId(properties));
    }

    /** The KV compression methods requests can name (issue 4's registry); add one with {@code register}. */
    @Bean
    KvMethods kvMethods() {
        return KvMethods.defaults();
    }

    @Bean
    EngineFactory engineFactory(ServingProperties properties, KvMethods methods) {
        return new CheckpointEngineFactory(properties.model().path(), properties.model().threads(), methods);
    }

    @Bean
    Scheduler scheduler(EngineFactory factory, ServingProperties properties, ServingMetrics metrics,
            Telemetry telemetry, TimeLimiterRegistry timeLimiters) {
        ServingProperties.Batching b = properties.scheduler();
        long budget = properties.kv().budgetBytes() > 0 ? properties.kv().budgetBytes()
                : derivedBudget(properties.kv().budgetMemoryFraction());
        SchedulerSettings settings = new SchedulerSettings(b.maxRunningSequences(), b.maxBatchedTokens(),
                b.maxWaiting(), budget,
                timeLimiters.timeLimiter(ServingGateway.INSTANCE).getTimeLimiterConfig().getTimeoutDuration(),
                b.retryAfter(), b.idlePoll());
        return new Scheduler(factory, settings, metrics, telemetry, System::nanoTime);
    }

    @Bean
    SchedulerLifecycle schedulerLifecycle(Scheduler scheduler, ServingProperties properties) {
        return new SchedulerLifecycle(scheduler, properties.scheduler().drainGrace());
    }

    @Bean
    ServingGateway servingGateway(Scheduler scheduler, RateLimiterRegistry rateLimiters,
            CircuitBreakerRegistry circuitBreakers, BulkheadRegistry bulkheads, TimeLimiterRegistry timeLimiters,
            ServingMetrics metrics) {
        return new ServingGateway(scheduler, rateLimiters, circuitBreakers.circuitBreaker(ServingGateway.INSTANCE),
                bulkheads.bulkhead(ServingGateway.INSTANCE), timeLimiters.timeLimiter(ServingGateway.INSTANCE),
                metrics);
    }

    @Bean
    EngineHealthIndicator engineHealthIndicator(Scheduler scheduler) {
        return new EngineHealthIndicator(scheduler);
    }

    /** KV lives in native memory, so the default budget is a share of the physical memory free at start-up. */
    private static long derivedBudget(double fraction) {
        long free = ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getFreeMemorySize();
        long budget = Math.max(64L << 20, (long) (free * fraction));
        log.info("kvpilot.kv.budget-bytes not set: using {} bytes ({} of {} free bytes)", budget, fraction, free);
        return budget;
    }
}
