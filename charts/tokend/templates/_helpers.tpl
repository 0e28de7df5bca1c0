{{/* tokend.name is the chart's name (nameOverride wins). */}}
{{- define "tokend.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* tokend.fullname names every object: fullnameOverride, else the release
name when it already contains the chart's name, else release-chart. */}}
{{- define "tokend.fullname" -}}
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

{{- define "tokend.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tokend.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tokend.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "tokend.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "tokend.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tokend.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* tokend.image is repository@digest when a digest is set, else repository:tag. */}}
{{- define "tokend.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "tokend.configMapName" -}}
{{- default (printf "%s-config" (include "tokend.fullname" .)) .Values.config.existingConfigMap }}
{{- end }}

{{- define "tokend.vault" -}}
{{- eq .Values.state.backend "vault" }}
{{- end }}

{{/* tokend.validate stops rendering on values that would break tokend. */}}
{{- define "tokend.validate" -}}
{{- if not (has .Values.state.backend (list "file" "vault")) }}
{{- fail (printf "state.backend must be file or vault, not %q" .Values.state.backend) }}
{{- end }}
{{- if and (eq .Values.state.backend "file") (ne (int .Values.replicaCount) 1) }}
{{- fail "state.backend=file allows exactly one replica (the store is locked against a second daemon); use state.backend=vault for more" }}
{{- end }}
{{- end }}
