{{- define "kvpilot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kvpilot.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "kvpilot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kvpilot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kvpilot.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "kvpilot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: inference
{{- end }}

{{- define "kvpilot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kvpilot.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding the API keys: the user's, or the one this chart creates. */}}
{{- define "kvpilot.secretName" -}}
{{- if .Values.auth.existingSecret }}
{{- .Values.auth.existingSecret }}
{{- else if .Values.auth.apiKeys }}
{{- printf "%s-keys" (include "kvpilot.fullname" .) }}
{{- else }}
{{- required "auth: set auth.existingSecret (a Secret with the API keys) or auth.apiKeys; the chart never deploys an open service" nil }}
{{- end }}
{{- end }}

{{/* resources.limits.memory in MiB (the schema allows Mi and Gi). */}}
{{- define "kvpilot.memoryLimitMiB" -}}
{{- $limit := required "resources.limits.memory is required: the JVM heap and the KV budget are derived from it" .Values.resources.limits.memory | toString }}
{{- if hasSuffix "Gi" $limit }}
{{- mul (trimSuffix "Gi" $limit | int64) 1024 }}
{{- else if hasSuffix "Mi" $limit }}
{{- trimSuffix "Mi" $limit | int64 }}
{{- else }}
{{- fail (printf "resources.limits.memory must end in Mi or Gi, got %s" $limit) }}
{{- end }}
{{- end }}

{{- define "kvpilot.heapMiB" -}}
{{- div (mul (include "kvpilot.memoryLimitMiB" . | int64) (.Values.memory.heapPercent | int64)) 100 }}
{{- end }}

{{- define "kvpilot.kvBudgetBytes" -}}
{{- div (mul (include "kvpilot.memoryLimitMiB" . | int64) 1048576 (.Values.memory.kvBudgetPercent | int64)) 100 }}
{{- end }}

{{- define "kvpilot.jvmOptions" -}}
{{- if gt (add .Values.memory.heapPercent .Values.memory.kvBudgetPercent | int64) 75 }}
{{- fail "memory.heapPercent + memory.kvBudgetPercent may not exceed 75: libtorch, the model weights and the JVM's own native memory need the rest" }}
{{- end }}
{{- $opts := printf "-Xms%dm -Xmx%dm -XX:+ExitOnOutOfMemoryError" (include "kvpilot.heapMiB" . | int64) (include "kvpilot.heapMiB" . | int64) }}
{{- if .Values.jvmOptions }}{{ $opts = printf "%s %s" $opts .Values.jvmOptions }}{{ end }}
{{- $opts }}
{{- end }}

{{- define "kvpilot.modelPath" -}}
{{- if eq .Values.model.source "pvc" }}
{{- $dir := required "model.pvc.directory: the checkpoint directory on the volume" .Values.model.pvc.directory }}
{{- printf "%s/%s" (trimSuffix "/" .Values.model.pvc.mountPath) $dir }}
{{- else }}
{{- .Values.model.imagePath }}
{{- end }}
{{- end }}

{{/* The application.yaml the service reads on top of its own: the user's config plus the drain time. */}}
{{- define "kvpilot.applicationYaml" -}}
{{- $config := deepCopy (.Values.config | default dict) }}
{{- if and (hasKey $config "kvpilot") (kindIs "map" $config.kvpilot) (hasKey $config.kvpilot "security") }}
{{- fail "config.kvpilot.security is not allowed: API keys come from the Secret (auth.existingSecret or auth.apiKeys)" }}
{{- end }}
{{- $drain := printf "%ds" (.Values.drainGraceSeconds | int64) }}
{{- $fixed := dict "kvpilot" (dict "scheduler" (dict "drain-grace" $drain)) "spring" (dict "lifecycle" (dict "timeout-per-shutdown-phase" $drain)) }}
{{- toYaml (mustMergeOverwrite $config $fixed) }}
{{- end }}
