{{/* Names, labels, images and cross-field checks shared by the templates. */}}

{{- define "mysql-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name: names every object the chart creates. */}}
{{- define "mysql-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "mysql-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mysql-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{- define "mysql-operator.labels" -}}
{{ include "mysql-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "mysql-operator.serviceAccountName" -}}
{{- if .Values.rbac.create -}}
{{- include "mysql-operator.fullname" . -}}
{{- else -}}
{{- .Values.rbac.serviceAccountName | default "default" -}}
{{- end -}}
{{- end -}}

{{- define "mysql-operator.image" -}}
{{- .Values.image | default (printf "ghcr.io/mysql-operator/mysql-operator:%s" .Chart.AppVersion) -}}
{{- end -}}

{{- define "mysql-operator.sidecarImage" -}}
{{- .Values.sidecarImage | default (printf "ghcr.io/mysql-operator/mysql-tools:%s" .Chart.AppVersion) -}}
{{- end -}}

{{- define "mysql-operator.leaseName" -}}
{{- .Values.leaderElection.leaseName | default (include "mysql-operator.fullname" .) -}}
{{- end -}}

{{/*
Checks values.schema.json cannot express with a clear message. Included by the Deployment,
so `helm install` / `helm template` stop before anything is applied.
*/}}
{{- define "mysql-operator.validate" -}}
{{- if and (gt (int .Values.replicas) 1) (not .Values.leaderElection.enabled) -}}
{{- fail (printf "replicas is %d but leaderElection.enabled is false: several operator pods would reconcile the same clusters at once. Set leaderElection.enabled=true or replicas=1." (int .Values.replicas)) -}}
{{- end -}}
{{- if eq (int .Values.metrics.port) (int .Values.health.port) -}}
{{- fail (printf "metrics.port and health.port are both %d: give them different ports." (int .Values.metrics.port)) -}}
{{- end -}}
{{- $names := dict -}}
{{- range $i, $p := .Values.defaultPlugins -}}
{{- if hasKey $names $p.name -}}
{{- fail (printf "defaultPlugins[%d].name %q is used twice: module names must be unique." $i $p.name) -}}
{{- end -}}
{{- $_ := set $names $p.name true -}}
{{- end -}}
{{- end -}}
