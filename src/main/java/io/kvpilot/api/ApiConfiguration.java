package io.kvpilot.api;

import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.press.KvMethods;
import io.kvpilot.policy.PolicyProperties;
import io.kvpilot.serving.ServingProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import tools.jackson.databind.json.JsonMapper;

@Configuration(proxyBeanMethods = false)
class ApiConfiguration {

    /**
     * {@code "kv_compression": "auto"} goes to the controller when {@code kvpilot.policy.enabled}; otherwise (and for
     * a scheduler without one) it is the static {@code kvpilot.kv.auto-*} setting.
     */
    @Bean
    RequestReader requestReader(JsonMapper json, ServingProperties properties, KvMethods methods,
            PolicyProperties policy) {
        ServingProperties.Kv kv = properties.kv();
        KvCompressionSpec auto = new KvCompressionSpec(kv.autoMethod(), kv.autoRatio(), kv.autoBits());
        methods.create(auto); // a default the engine cannot serve fails start-up, not every request
        return new RequestReader(json, properties.scheduler().defaultMaxTokens(), auto, methods,
                policy.enabled() ? policy.sloClasses().keySet() : java.util.Set.of());
    }
}
