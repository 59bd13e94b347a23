{{/* Release-scoped base name, e.g. "orderstream" or "<release>-orderstream". */}}
{{- define "orderstream.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Name of one context's workload and API Service: (dict "root" $ "name" "order") */}}
{{- define "orderstream.name" -}}
{{- printf "%s-%s" (include "orderstream.fullname" .root) .name -}}
{{- end -}}

{{/* Name of one context's headless Service (stable pod DNS for table_route). */}}
{{- define "orderstream.headless" -}}
{{- printf "%s-headless" (include "orderstream.name" .) -}}
{{- end -}}

{{- define "orderstream.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "orderstream.labels" -}}
{{ include "orderstream.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "orderstream.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/*
One context's values: `worker` overlaid with `contexts.<name>`, and `config` overlaid with
`contexts.<name>.config`. Returns YAML; use with fromYaml.
*/}}
{{- define "orderstream.context" -}}
{{- $own := index .root.Values.contexts .name | default dict -}}
{{- $ctx := mustMergeOverwrite (deepCopy .root.Values.worker) (deepCopy $own) -}}
{{- $_ := set $ctx "config" (mustMergeOverwrite (deepCopy .root.Values.config) (deepCopy ($own.config | default dict))) -}}
{{- toYaml $ctx -}}
{{- end -}}

{{/*
Env shared by the workers and the topics Job: every `config` key, then the settings that come
from Secrets: (dict "root" $ "config" <merged config> "user" <Secret of its Kafka user>).
Secrets are referenced, never copied.
*/}}
{{- define "orderstream.sharedEnv" -}}
{{- $v := .root.Values -}}
{{- range $key, $value := .config }}
- name: ORDERSTREAM_{{ upper $key }}
  value: {{ toString $value | quote }}
{{- end }}
- name: ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS
  valueFrom:
    secretKeyRef:
      name: {{ $v.kafka.secretName }}
      key: {{ $v.kafka.keys.bootstrapServers }}
{{- if hasPrefix "SASL" .config.kafka_security_protocol }}
- name: ORDERSTREAM_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ .user }}
      key: {{ $v.kafka.keys.saslUsername }}
- name: ORDERSTREAM_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .user }}
      key: {{ $v.kafka.keys.saslPassword }}
{{- end }}
{{- with $v.kafka.tls }}
{{- if .secretName }}
- name: ORDERSTREAM_KAFKA_SSL_CAFILE
  value: /etc/orderstream/kafka-tls/{{ .caKey }}
{{- if .clientAuth }}
- name: ORDERSTREAM_KAFKA_SSL_CERTFILE
  value: /etc/orderstream/kafka-tls/{{ .certKey }}
- name: ORDERSTREAM_KAFKA_SSL_KEYFILE
  value: /etc/orderstream/kafka-tls/{{ .keyKey }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The Kafka TLS Secret as a volume; only when kafka.tls.secretName is set. */}}
{{- define "orderstream.kafkaTlsVolume" -}}
{{- with .Values.kafka.tls -}}
- name: kafka-tls
  secret:
    secretName: {{ .secretName }}
    defaultMode: 0440
    items:
      - key: {{ .caKey }}
        path: {{ .caKey }}
      {{- if .clientAuth }}
      - key: {{ .certKey }}
        path: {{ .certKey }}
      - key: {{ .keyKey }}
        path: {{ .keyKey }}
      {{- end }}
{{- end }}
{{- end -}}

{{- define "orderstream.podSecurity" -}}
automountServiceAccountToken: false
{{- with .Values.serviceAccount.name }}
serviceAccountName: {{ . }}
{{- end }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}

{{/* Rules the schema cannot state; called once, from the topics Job and the StatefulSets. */}}
{{- define "orderstream.validate" -}}
{{- with .Values.config }}
{{- if gt (int .topic_min_insync_replicas) (int .topic_replication_factor) }}
{{- fail (printf "config.topic_min_insync_replicas (%v) must not exceed config.topic_replication_factor (%v)" .topic_min_insync_replicas .topic_replication_factor) }}
{{- end }}
{{- end }}
{{- end -}}
