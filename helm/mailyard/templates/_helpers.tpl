{{/*
_helpers.tpl - names, labels, images, the fixed security contexts and the
environment shared by every Mailyard workload of this chart.
*/}}

{{- define "mailyard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mailyard.fullname" -}}
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

{{/* The five services, in pipeline order. */}}
{{- define "mailyard.services" -}}
mx rewrite lists archive relay
{{- end -}}

{{- define "mailyard.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "mailyard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mailyard
{{- end -}}

{{/* selector labels of one component: (dict "ctx" $ "component" "mx") */}}
{{- define "mailyard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mailyard.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "mailyard.componentLabels" -}}
{{ include "mailyard.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* image of one component: (dict "ctx" $ "component" "mx") */}}
{{- define "mailyard.image" -}}
{{- $img := .ctx.Values.image -}}
{{- $tag := default .ctx.Chart.AppVersion $img.tag -}}
{{- if $img.registry -}}
{{- printf "%s/%s/%s:%s" $img.registry $img.prefix .component $tag -}}
{{- else -}}
{{- printf "%s/%s:%s" $img.prefix .component $tag -}}
{{- end -}}
{{- end -}}

{{- define "mailyard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mailyard.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Pod securityContext (numeric non-root user, seccomp RuntimeDefault). */}}
{{- define "mailyard.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurityContext.runAsUser }}
runAsGroup: {{ .Values.podSecurityContext.runAsGroup }}
fsGroup: {{ .Values.podSecurityContext.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container securityContext: fixed, not configurable. */}}
{{- define "mailyard.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurityContext.runAsUser }}
runAsGroup: {{ .Values.podSecurityContext.runAsGroup }}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Environment every process needs: credentials from the referenced Secrets. */}}
{{- define "mailyard.secretEnv" -}}
- name: MAILYARD_PG_DSN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.postgres.name }}
      key: {{ .Values.secrets.postgres.dsnKey }}
- name: MAILYARD_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.redis.name }}
      key: {{ .Values.secrets.redis.urlKey }}
{{- if .Values.secrets.redis.passwordKey }}
- name: MAILYARD_REDIS_PASSWORD_FILE
  value: /run/secrets/mailyard/redis/password
{{- end }}
- name: MAILYARD_ADMIN_TOKEN_FILE
  value: /run/secrets/mailyard/admin/token
{{- end -}}

{{/* Volumes for the credentials above plus /tmp. */}}
{{- define "mailyard.secretVolumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
- name: admin-token
  secret:
    secretName: {{ .Values.secrets.adminToken.name }}
    defaultMode: 0440
    items:
      - key: {{ .Values.secrets.adminToken.key }}
        path: token
{{- if .Values.secrets.redis.passwordKey }}
- name: redis-password
  secret:
    secretName: {{ .Values.secrets.redis.name }}
    defaultMode: 0440
    items:
      - key: {{ .Values.secrets.redis.passwordKey }}
        path: password
{{- end }}
{{- end -}}

{{- define "mailyard.secretVolumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: admin-token
  mountPath: /run/secrets/mailyard/admin
  readOnly: true
{{- if .Values.secrets.redis.passwordKey }}
- name: redis-password
  mountPath: /run/secrets/mailyard/redis
  readOnly: true
{{- end }}
{{- end -}}

{{/* URL of one service's API inside the cluster. */}}
{{- define "mailyard.serviceUrl" -}}
{{- printf "http://%s-%s:%d" (include "mailyard.fullname" .ctx) .component (int .ctx.Values.httpPort) -}}
{{- end -}}
