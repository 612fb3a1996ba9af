{{- define "controlplane.name" -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "controlplane.labels" -}}
app.kubernetes.io/part-of: sandboxmesh
app.kubernetes.io/component: controlplane
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "controlplane.selector" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controlplane
{{- end -}}

{{- define "controlplane.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The environment every container of the chart shares: the database and the settings. */}}
{{- define "controlplane.env" -}}
- name: SANDBOXMESH_ENVIRONMENT
  value: {{ .Values.environment | quote }}
- name: SANDBOXMESH_DATABASE__URL
  valueFrom:
    secretKeyRef: {name: {{ .Values.database.urlSecret | quote }}, key: {{ .Values.database.key | quote }}}
{{- with .Values.publicUrl }}
- name: SANDBOXMESH_PUBLIC_URL
  value: {{ . | quote }}
{{- end }}
- name: SANDBOXMESH_HOME
  value: /tmp/sandboxmesh
{{- with .Values.env }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "controlplane.podSpecCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets: {{- toYaml . | nindent 2 }}
{{- end }}
securityContext: {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
