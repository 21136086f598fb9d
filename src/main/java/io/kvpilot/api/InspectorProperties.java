package io.kvpilot.api;

import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.annotation.Validated;

/**
 * Bounds of the KV inspector ({@code POST /admin/kv/inspect}): each inspection runs one generation per setting plus
 * the uncompressed one, so the prompt, the number of settings and the answer length are capped.
 *
 * @param maxPromptTokens longest prompt (after the chat template) an inspection takes
 * @param maxSettings settings per inspection, besides the uncompressed baseline
 * @param maxTokens the largest {@code max_tokens} an inspection may ask for
 * @param defaultMaxTokens {@code max_tokens} when absent
 */
@Validated
@ConfigurationProperties("kvpilot.inspector")
record InspectorProperties(
        @DefaultValue("1024") @Min(1) int maxPromptTokens,
        @DefaultValue("8") @Min(1) @Max(32) int maxSettings,
        @DefaultValue("128") @Min(1) int maxTokens,
        @DefaultValue("32") @Min(1) int defaultMaxTokens) {

    InspectorProperties {
        if (defaultMaxTokens > maxTokens) {
            throw new IllegalArgumentException("kvpilot.inspector.default-max-tokens (" + defaultMaxTokens
                    + ") must not exceed kvpilot.inspector.max-tokens (" + maxTokens + ")");
        }
    }
}
