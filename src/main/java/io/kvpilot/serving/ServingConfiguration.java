package io.kvpilot.serving;

import io.github.resilience4j.bulkhead.BulkheadRegistry;
import io.github.resilience4j.circuitbreaker.CircuitBreakerRegistry;
import io.github.resilience4j.ratelimiter.RateLimiterRegistry;
import io.github.resilience4j.timelimiter.TimeLimiterRegistry;
import io.kvpilot.kvcache.press.KvMethods;
import io.kvpilot.policy.AdaptiveCompressionPolicy;
import io.kvpilot.policy.EngineKvCostModel;
import io.kvpilot.policy.KvCostModel;
import io.kvpilot.policy.PolicyProperties;
import io.kvpilot.telemetry.ServingMetrics;
import io.kvpilot.telemetry.Telemetry;
import io.micrometer.core.instrument.MeterRegistry;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.lang.management.ManagementFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.SpringApplication;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** Wires the scheduler, its engine and the Resilience4j instances named {@code generation}. */
@Configuration(proxyBeanMethods = false)
class ServingConfiguration {

    private static final Logger log = LoggerFactory.getLogger(ServingConfiguration.class);
    /** The exit status when the model cannot be loaded. */
    static final int MODEL_LOAD_FAILED = 3;

    @Bean
    ServingMetrics servingMetrics(MeterRegistry registry, ObjectProvider<PrometheusRegistry> prometheus,
            ServingProperties properties) {
        return new ServingMetrics(registry, prometheus.getIfAvailable(),
                TelemetryConfiguration.servedModelId(properties));
    }

    /** The KV compression methods requests can name (issue 4's registry); add one with {@code register}. */
    @Bean
    KvMethods kvMethods(ServingProperties properties) {
        return KvMethods.defaults(properties.kv().decodeCompressionInterval());
    }

    /** The KV budget, resolved once: admission plans with it and the engine's pool enforces it. */
    @Bean
    KvBudgetBytes kvBudgetBytes(ServingProperties properties) {
        return new KvBudgetBytes(properties.kv().budgetBytes() > 0 ? properties.kv().budgetBytes()
                : derivedBudget(properties.kv().budgetMemoryFraction()));
    }

    @Bean
    EngineFactory engineFactory(ServingProperties properties, KvMethods methods, KvBudgetBytes budget) {
        return new CheckpointEngineFactory(properties.model().path(), properties.model().threads(), methods,
                budget.bytes());
    }

    /** What a compression setting costs in KV bytes: the engine's exact footprint, what admission reserves. */
    @Bean
    KvCostModel kvCostModel(ObjectProvider<Scheduler> scheduler) {
        return new EngineKvCostModel(() -> scheduler.getObject().engine());
    }

    @Bean
    Scheduler scheduler(EngineFactory factory, ServingProperties properties, ServingMetrics metrics,
            Telemetry telemetry, TimeLimiterRegistry timeLimiters, KvBudgetBytes kvBudget,
            ObjectProvider<AdaptiveCompressionPolicy> policy,
            ObjectProvider<PolicyProperties> policyProperties) {
        ServingProperties.Batching b = properties.scheduler();
        long budget = kvBudget.bytes();
        SchedulerSettings settings = new SchedulerSettings(b.maxRunningSequences(), b.maxBatchedTokens(),
                b.maxWaiting(), budget,
                timeLimiters.timeLimiter(ServingGateway.INSTANCE).getTimeLimiterConfig().getTimeoutDuration(),
                b.retryAfter(), b.idlePoll(), b.prefillChunkTokens());
        AdaptiveCompressionPolicy controller = policy.getIfAvailable();
        ControllerHook hook = controller == null ? null : new ControllerHook(controller, metrics,
                policyProperties.getObject().minQuality(), policyProperties.getObject().defaultSloClass());
        return new Scheduler(factory, settings, metrics, telemetry, System::nanoTime, hook);
    }

    /** A model that cannot load exits the process non-zero (its cause is logged once), so an orchestrator sees it. */
    @Bean
    SchedulerLifecycle schedulerLifecycle(Scheduler scheduler, ServingProperties properties,
            ConfigurableApplicationContext context) {
        return new SchedulerLifecycle(scheduler, properties.scheduler().drainGrace(),
                properties.scheduler().retryAfter(), () -> exit(context));
    }

    /** Off the engine thread: closing the context waits for the scheduler, which must not wait for itself. */
    private static void exit(ConfigurableApplicationContext context) {
        Thread exit = new Thread(() -> System.exit(SpringApplication.exit(context, () -> MODEL_LOAD_FAILED)),
                "kvpilot-exit");
        // created by the (daemon) engine thread it would be a daemon too, and the JVM would end with 0 once the
        // context has closed, before System.exit ran
        exit.setDaemon(false);
        exit.start();
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

    /** @param bytes the KV byte budget ({@code kvpilot.kv.budget-bytes}, or derived from free memory) */
    record KvBudgetBytes(long bytes) {}

    /** KV lives in native memory, so the default budget is a share of the physical memory free at start-up. */
    private static long derivedBudget(double fraction) {
        long free = ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getFreeMemorySize();
        long budget = Math.max(64L << 20, (long) (free * fraction));
        log.info("kvpilot.kv.budget-bytes not set: using {} bytes ({} of {} free bytes)", budget, fraction, free);
        return budget;
    }
}
