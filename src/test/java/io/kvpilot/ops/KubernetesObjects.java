package io.kvpilot.ops;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.introspect.Annotated;
import com.fasterxml.jackson.databind.introspect.JacksonAnnotationIntrospector;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Reads rendered manifests into fabric8's Kubernetes model, strictly: fabric8's classes keep unknown fields in an
 * {@code additionalProperties} map (a {@code @JsonAnySetter}), which would let a misspelled or misplaced field pass
 * silently, so this mapper ignores that annotation and fails on any field the model does not know. Custom resources
 * that fabric8 does not model (ServiceMonitor, PrometheusRule, ScaledObject) become {@link GenericKubernetesResource}
 * and are checked field by field by the tests.
 */
final class KubernetesObjects {

    /** Each kind the chart may render, with its apiVersion and the model class it must parse into. */
    private static final Map<String, Kind> KINDS = Map.of(
            "Deployment", new Kind("apps/v1", Deployment.class),
            "Service", new Kind("v1", Service.class),
            "ServiceAccount", new Kind("v1", ServiceAccount.class),
            "ConfigMap", new Kind("v1", ConfigMap.class),
            "Secret", new Kind("v1", Secret.class),
            "PodDisruptionBudget", new Kind("policy/v1", PodDisruptionBudget.class),
            "NetworkPolicy", new Kind("networking.k8s.io/v1", NetworkPolicy.class),
            "HorizontalPodAutoscaler", new Kind("autoscaling/v2", HorizontalPodAutoscaler.class),
            "ServiceMonitor", new Kind("monitoring.coreos.com/v1", GenericKubernetesResource.class),
            "PrometheusRule", new Kind("monitoring.coreos.com/v1", GenericKubernetesResource.class));

    private static final Map<String, Kind> CUSTOM = Map.of(
            "ScaledObject", new Kind("keda.sh/v1alpha1", GenericKubernetesResource.class));

    record Kind(String apiVersion, Class<? extends HasMetadata> type) {}

    static final YAMLMapper YAML = new YAMLMapper();

    private static final ObjectMapper STRICT = new ObjectMapper(new YAMLFactory())
            .setAnnotationIntrospector(new JacksonAnnotationIntrospector() {
                @Override
                public Boolean hasAnySetter(Annotated annotated) {
                    return Boolean.FALSE;
                }
            })
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    /** A generic resource holds everything but apiVersion, kind and metadata in its any-setter map. */
    private static final ObjectMapper CUSTOM_RESOURCES = new ObjectMapper(new YAMLFactory());

    private KubernetesObjects() {}

    /** Every document of a multi-document YAML stream, parsed strictly into its model class. */
    static List<HasMetadata> parseAll(String manifests) {
        List<HasMetadata> objects = new ArrayList<>();
        for (String document : manifests.split("(?m)^---\\s*$")) {
            if (document.lines().allMatch(line -> line.isBlank() || line.startsWith("#"))) {
                continue;
            }
            objects.add(parse(document));
        }
        return objects;
    }

    static HasMetadata parse(String document) {
        try {
            JsonNode tree = YAML.readTree(document);
            String kindName = tree.path("kind").asText();
            Kind kind = KINDS.getOrDefault(kindName, CUSTOM.get(kindName));
            if (kind == null) {
                throw new AssertionError("the chart rendered a kind the tests do not know: " + kindName);
            }
            if (!kind.apiVersion().equals(tree.path("apiVersion").asText())) {
                throw new AssertionError(kindName + " has apiVersion " + tree.path("apiVersion").asText()
                        + ", expected " + kind.apiVersion());
            }
            ObjectMapper mapper = kind.type() == GenericKubernetesResource.class ? CUSTOM_RESOURCES : STRICT;
            return mapper.treeToValue(tree, kind.type());
        } catch (IOException e) {
            throw new UncheckedIOException("does not parse into the Kubernetes model:\n" + document, e);
        }
    }
}
