// Well-known label, annotation and taint keys shared by the control plane and the agent.
// The names are Kubernetes' own where Kubernetes has one (k8s.io/api/core/v1/well_known_*.go).

/** Node labels every agent sets when it registers its Node. */
export const labelHostname = 'kubernetes.io/hostname';
export const labelArch = 'kubernetes.io/arch';
export const labelOS = 'kubernetes.io/os';

/**
 * Node annotation: the platforms of the images the node knows about, so the scheduler never puts
 * a pod on a board that would fail with `exec format error`.
 *
 * Contract (the agent writes it, the scheduler reads it):
 *  - Value: JSON object, image reference -> list of platforms `os/arch[/variant]`, e.g.
 *    `{"nginx:latest":["linux/amd64","linux/arm64/v8"],"lab/sensor:1.2":["linux/arm/v7"]}`.
 *  - Keys are image references as the pod spec names them; the scheduler normalises both sides
 *    (`nginx` = `nginx:latest` = `docker.io/library/nginx:latest`).
 *  - Each list is every platform the image is AVAILABLE for, as far as the node knows: all the
 *    entries of the image's manifest list for a multi-arch image, or the single platform of an
 *    image that only exists locally (built on the board). Not just the platform the node pulled,
 *    or an x86 node reporting a multi-arch image would keep it off every Pi.
 *  - Only images in the node's `status.images` need an entry; a missing annotation is fine.
 *  - The scheduler takes the union over all nodes: if any node knows an image's platforms, nodes
 *    whose `kubernetes.io/os`/`kubernetes.io/arch` is not among them are filtered out.
 *  - The agent should write it with the same status update that writes `status.images`
 *    (a merge patch of metadata.annotations on the Node is also allowed for the node's credential).
 */
export const annotationImagePlatforms = 'labkube.io/image-platforms';

/** Taints the node lifecycle controller manages. */
export const taintNodeNotReady = 'node.kubernetes.io/not-ready';
export const taintNodeUnreachable = 'node.kubernetes.io/unreachable';
export const taintNodeUnschedulable = 'node.kubernetes.io/unschedulable';

/** The Lease namespace: one Lease per node, renewed by its agent as a heartbeat. */
export const nodeLeaseNamespace = 'kube-node-lease';

/** Pod condition set before a pod is evicted, as Kubernetes' taint manager does. */
export const conditionDisruptionTarget = 'DisruptionTarget';

export const defaultSchedulerName = 'default-scheduler';

/** Node label: the zone a node is in; EndpointSlice endpoints carry it as `zone`. */
export const labelTopologyZone = 'topology.kubernetes.io/zone';

/** EndpointSlice labels: the Service a slice belongs to, and which controller writes it. */
export const labelServiceName = 'kubernetes.io/service-name';
export const labelEndpointSliceManagedBy = 'endpointslice.kubernetes.io/managed-by';
/** The managed-by value of slices the EndpointSlice controller owns (Kubernetes' own value). */
export const endpointSliceControllerName = 'endpointslice-controller.k8s.io';

/** Label on Endpoints and EndpointSlices of a Service without a cluster IP (headless). */
export const labelHeadlessService = 'service.kubernetes.io/headless';

/** Annotation on Endpoints cut down to their first 1000 addresses. */
export const annotationEndpointsOverCapacity = 'endpoints.kubernetes.io/over-capacity';

/** The subject a node's serving certificate names (the kubelet's): the agent asks for it, the control plane checks it. */
export const servingCertSubject = (nodeName: string): string => `system:node:${nodeName}`;
