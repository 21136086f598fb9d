package io.kvpilot.policy;

import jakarta.validation.Valid;
import jakarta.validation.constraints.DecimalMax;
import jakarta.validation.constraints.DecimalMin;
import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.NotEmpty;
import jakarta.validation.constraints.NotNull;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.annotation.Validated;

/**
 * The adaptive controller's configuration ({@code kvpilot.policy.*}), documented in docs/api.md.
 *
 * @param enabled whether {@code "auto"} goes to the controller (false: the static {@code kvpilot.kv.auto-*} setting)
 * @param modelPath the quality predictor's artefact directory; without a loadable one the static fallback decides
 * @param candidates the settings the controller chooses among (a grid, plus quantization alone)
 * @param minQuality the quality floor of requests that give none
 * @param pressure the hysteresis levels of the pressure state (projected KV use over the budget)
 * @param sloClasses latency objectives per SLO class
 * @param defaultSloClass the class of requests that name none
 * @param reclaimMethods methods a running cache may be recompressed with (query-agnostic only)
 * @param fallback what the static fallback applies when the uncompressed setting does not fit
 * @param decisionsKept decisions {@code GET /admin/policy/decisions} can list
 * @param stepModel the online step-time model
 * @param threshold a static rule instead of the learned choice, as a baseline for benchmarks (off by default)
 */
@Validated
@ConfigurationProperties("kvpilot.policy")
public record PolicyProperties(
        @DefaultValue("true") boolean enabled,
        @NotNull @DefaultValue("policy-models/v2") Path modelPath,
        @Valid @NotNull @DefaultValue Candidates candidates,
        @DecimalMin("0.0") @DecimalMax("1.0") @DefaultValue("0.9") double minQuality,
        @Valid @NotNull @DefaultValue Pressure pressure,
        Map<String, @Valid Objective> sloClasses,
        @NotBlank @DefaultValue("interactive") String defaultSloClass,
        @NotEmpty @DefaultValue({"keydiff", "streaming_llm", "knorm"}) List<String> reclaimMethods,
        @Valid @NotNull @DefaultValue Fallback fallback,
        @Min(1) @Max(100_000) @DefaultValue("256") int decisionsKept,
        @Valid @NotNull @DefaultValue StepModel stepModel,
        @Valid @NotNull @DefaultValue Threshold threshold) {

    public PolicyProperties {
        if (sloClasses == null || sloClasses.isEmpty()) {
            sloClasses = Map.of("interactive", new Objective(Duration.ofSeconds(3), Duration.ofMillis(250)),
                    "batch", new Objective(Duration.ofSeconds(30), Duration.ofSeconds(2)));
        }
    }

    /**
     * Every method at every ratio and bit width, plus {@code none} at each of {@code quantizationOnlyBits}.
     *
     * @param methods eviction methods by API name
     * @param ratios fractions of entries removed
     * @param bits bit widths (16, 8, 4 or 2)
     * @param quantizationOnlyBits bit widths offered without eviction (8: int8, 4: KIVI int4)
     */
    public record Candidates(
            @NotEmpty @DefaultValue({"keydiff", "snapkv", "streaming_llm"}) List<String> methods,
            @NotEmpty @DefaultValue({"0.25", "0.5", "0.75"}) List<Double> ratios,
            @NotEmpty @DefaultValue({"16", "8"}) List<Integer> bits,
            @NotNull @DefaultValue({"8"}) List<Integer> quantizationOnlyBits) {}

    /**
     * @param enter projected use at which new requests start to be compressed although they would fit uncompressed
     * @param exit projected use under which that stops; below {@code enter}
     */
    public record Pressure(
            @DecimalMin("0.0") @DecimalMax("1.0") @DefaultValue("0.85") double enter,
            @DecimalMin("0.0") @DecimalMax("1.0") @DefaultValue("0.6") double exit) {}

    /**
     * @param ttft time to first token objective
     * @param tpot time per output token objective
     */
    public record Objective(@NotNull Duration ttft, @NotNull Duration tpot) {}

    /**
     * @param method method of the fallback setting
     * @param ratio its ratio
     * @param bits its bits
     */
    public record Fallback(
            @NotBlank @DefaultValue("keydiff") String method,
            @DecimalMin("0.0") @DecimalMax("0.99") @DefaultValue("0.5") double ratio,
            @Min(2) @Max(16) @DefaultValue("16") int bits) {}

    /**
     * @param forgetting weight of the previous fit per step, in (0, 1]
     * @param minSamples steps of a path before its predictions are used
     */
    public record StepModel(
            @DecimalMin("0.5") @DecimalMax("1.0") @DefaultValue("0.99") double forgetting,
            @Min(4) @DefaultValue("20") int minSamples) {}

    /**
     * The rule the trace-replay benchmark compares the controller with: every {@code auto} request uncompressed while
     * reserved KV is under {@code usage} of the budget, and {@code method}/{@code ratio}/{@code bits} above it.
     *
     * @param enabled whether the rule replaces the learned choice
     * @param usage reserved over budget at which compression starts
     * @param method method applied above it
     * @param ratio its ratio
     * @param bits its bits
     */
    public record Threshold(
            @DefaultValue("false") boolean enabled,
            @DecimalMin("0.0") @DecimalMax("1.0") @DefaultValue("0.8") double usage,
            @NotBlank @DefaultValue("keydiff") String method,
            @DecimalMin("0.0") @DecimalMax("0.99") @DefaultValue("0.5") double ratio,
            @Min(2) @Max(16) @DefaultValue("8") int bits) {}
}
