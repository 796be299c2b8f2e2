{{/* Names ------------------------------------------------------------------------------------ */}}

{{- define "cnai.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: kept to 52 characters so "<fullname>-controllers" fits in 63. */}}
{{- define "cnai.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "cnai.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cnai.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cnai.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The chart's own Secret (token, credentials given in values). */}}
{{- define "cnai.secretName" -}}
{{- include "cnai.fullname" . }}
{{- end }}

{{/* Labels ----------------------------------------------------------------------------------- */}}

{{- define "cnai.labels" -}}
helm.sh/chart: {{ include "cnai.chart" . }}
{{ include "cnai.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cnai
{{- end }}

{{- define "cnai.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cnai.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Component labels: call with (dict "ctx" $ "component" "server"). */}}
{{- define "cnai.componentLabels" -}}
{{ include "cnai.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "cnai.componentSelectorLabels" -}}
{{ include "cnai.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Image ------------------------------------------------------------------------------------ */}}

{{- define "cnai.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Settings --------------------------------------------------------------------------------- */}}

{{/* The admin token's Secret and key. */}}
{{- define "cnai.tokenSecretName" -}}
{{- default (include "cnai.secretName" .) .Values.auth.existingSecret }}
{{- end }}

{{- define "cnai.tokenSecretKey" -}}
{{- if .Values.auth.existingSecret }}{{ .Values.auth.existingSecretKey }}{{ else }}token{{ end }}
{{- end }}

{{/* Refuse values that cannot give a working store, before anything is rendered. */}}
{{- define "cnai.validate" -}}
{{- if and (not .Values.database.url) (not .Values.database.host) }}
{{- fail "database: cnai needs an external PostgreSQL: set database.url, or database.host (with database.name, database.user and a password via database.existingSecret or database.password)" }}
{{- end }}
{{- if and .Values.database.url (not (hasPrefix "postgresql" .Values.database.url)) }}
{{- fail "database.url: give a PostgreSQL URL (postgresql+psycopg://user:password@host:5432/db): several replicas cannot share SQLite" }}
{{- end }}
{{- if not .Values.s3.bucket }}
{{- fail "s3.bucket: cnai keeps artifacts in S3 or an S3-compatible store: set s3.bucket (and s3.endpoint for MinIO and the like)" }}
{{- end }}
{{- if and .Values.controllers.enabled (not .Values.kafka.bootstrapServers) }}
{{- fail "kafka.bootstrapServers: the monitor controller reads inference events from Kafka: set kafka.bootstrapServers, or controllers.enabled=false" }}
{{- end }}
{{- if and (or .Values.s3.accessKeyId .Values.s3.secretAccessKey) .Values.s3.existingSecret }}
{{- fail "s3: give the credentials either in s3.existingSecret or as s3.accessKeyId/s3.secretAccessKey, not both" }}
{{- end }}
{{- if and .Values.s3.accessKeyId (not .Values.s3.secretAccessKey) }}
{{- fail "s3.secretAccessKey: s3.accessKeyId is set without its secret access key" }}
{{- end }}
{{- end }}

{{/* CNAI_STORE without a password (it comes as PGPASSWORD), unless database.url is used. */}}
{{- define "cnai.storeUrl" -}}
{{- $db := .Values.database }}
{{- $url := printf "postgresql+psycopg://%s@%s:%d/%s" (urlquery $db.user) $db.host (int $db.port) $db.name }}
{{- if $db.sslmode }}{{ $url = printf "%s?sslmode=%s" $url $db.sslmode }}{{ end }}
{{- $url }}
{{- end }}

{{- define "cnai.eventBusUrl" -}}
{{- $url := printf "kafka://%s" (join "," .Values.kafka.bootstrapServers) }}
{{- $opts := list }}
{{- range $k, $v := .Values.kafka.options }}{{ $opts = append $opts (printf "%s=%v" $k $v) }}{{ end }}
{{- if $opts }}{{ $url = printf "%s?%s" $url (join "&" $opts) }}{{ end }}
{{- $url }}
{{- end }}

{{/* Environment shared by every cnai container: the stores and the admin opt-ins. */}}
{{- define "cnai.storeEnv" -}}
- name: CNAI_HOME
  value: /tmp/cnai
- name: HOME
  value: /tmp
- name: CNAI_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- if .Values.database.url }}
- name: CNAI_STORE
  valueFrom:
    secretKeyRef:
      name: {{ include "cnai.secretName" . }}
      key: store-url
{{- else }}
- name: CNAI_STORE
  value: {{ include "cnai.storeUrl" . | quote }}
{{- if .Values.database.existingSecret }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.existingSecret }}
      key: {{ .Values.database.existingSecretKey }}
{{- else if .Values.database.password }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "cnai.secretName" . }}
      key: database-password
{{- end }}
{{- end }}
- name: CNAI_ARTIFACTS
  value: {{ printf "s3://%s/%s" .Values.s3.bucket (trimAll "/" .Values.s3.prefix) | trimSuffix "/" | quote }}
{{- if .Values.s3.endpoint }}
- name: CNAI_S3_ENDPOINT_URL
  value: {{ .Values.s3.endpoint | quote }}
{{- end }}
- name: AWS_DEFAULT_REGION
  value: {{ .Values.s3.region | quote }}
{{- if or .Values.s3.existingSecret .Values.s3.accessKeyId }}
{{- $secret := default (include "cnai.secretName" .) .Values.s3.existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ if .Values.s3.existingSecret }}{{ .Values.s3.accessKeyIdKey }}{{ else }}s3-access-key-id{{ end }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ if .Values.s3.existingSecret }}{{ .Values.s3.secretAccessKeyKey }}{{ else }}s3-secret-access-key{{ end }}
{{- end }}
- name: CNAI_ALLOW_COMMAND_ACTIONS
  value: {{ .Values.policy.allowCommandActions | quote }}
{{- with .Values.policy.commandAllowlist }}
- name: CNAI_COMMAND_ALLOWLIST
  value: {{ join "," . | quote }}
{{- end }}
{{- with .Values.policy.webhookAllowlist }}
- name: CNAI_WEBHOOK_ALLOWLIST
  value: {{ join "," . | quote }}
{{- end }}
{{- end }}

{{/* Host names the server answers to: its Service's names, the ingress hosts, and extra ones. */}}
{{- define "cnai.allowedHosts" -}}
{{- $svc := include "cnai.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- $hosts := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.clusterDomain) }}
{{- if .Values.ingress.enabled }}{{ $hosts = concat $hosts .Values.ingress.hosts }}{{ end }}
{{- $hosts = concat $hosts .Values.server.allowedHosts }}
{{- join "," ($hosts | uniq) }}
{{- end }}

{{/* The pod-level settings every cnai pod shares. */}}
{{- define "cnai.podCommon" -}}
serviceAccountName: {{ include "cnai.serviceAccountName" . }}
automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
{{- include "cnai.noServiceLinks" . }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end }}

{{/* No Docker-link variables: a Service named "cnai" would give every pod CNAI_PORT=tcp://IP:8080,
which cnai's settings read as its port (and refuse: not an integer). */}}
{{- define "cnai.noServiceLinks" }}
enableServiceLinks: false
{{- end }}
