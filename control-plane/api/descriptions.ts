// What each kind and field means, in labkube's words: the OpenAPI documents carry these, so
// `kubectl explain` teaches (kubectl 1.27 and 1.28 read them from /openapi/v2, later ones from
// /openapi/v3). Shared shapes are described once: a pod template's spec is a PodSpec wherever it
// sits, a container is a Container, every object's metadata is an ObjectMeta.

const kinds: Record<string, string> = {
  Pod: 'A Pod is one or more containers that run together on one node (a board), share a network address, and are started, restarted and stopped together.',
  Node: 'A Node is a board or VM that runs the labkube agent. The agent registers it, reports its capacity, addresses and images, and renews its Lease as a heartbeat.',
  Namespace: 'A Namespace groups objects and their names; deleting one deletes everything in it.',
  Service: 'A Service gives a set of pods, chosen by a label selector, one stable virtual IP, DNS name and ports. The agent on every board forwards its traffic to the ready pods.',
  Endpoints: 'Endpoints list the addresses and ports of the ready pods a Service selects. The endpoints controller writes them; read EndpointSlices for the newer shape.',
  Event: 'An Event reports something that happened to an object: a pod scheduled, an image pulled, a node gone NotReady.',
  ReplicaSet: 'A ReplicaSet keeps a number of identical pods running. Deployments create and scale them; one is rarely written by hand.',
  Deployment: 'A Deployment declares the pods an application runs and how many. Changing its pod template rolls the pods over to the new version through a new ReplicaSet.',
  EndpointSlice: 'An EndpointSlice lists some of the endpoints of a Service, with conditions telling whether each one is ready, serving or terminating.',
  Lease: 'A Lease is a heartbeat: each node renews its own in kube-node-lease. labkube keeps Leases in memory, never on disk.',
  ConfigMap: 'A ConfigMap holds configuration as key-value pairs, which pods read as files or environment variables.',
  Secret: 'A Secret holds credentials (passwords, keys, certificates) as base64 key-value pairs, which pods read as files or environment variables. Only the admin may read them.',
  PodDisruptionBudget: 'A PodDisruptionBudget limits how many pods of an application evictions may take down at once, so that draining boards keeps it answering.',
};

const fields: Record<string, string> = {
  apiVersion: 'The versioned schema of this object, such as v1 or apps/v1.',
  kind: 'The kind of this object, such as Pod or Deployment.',
  metadata: "The object's name, namespace, labels, annotations, owners and the fields the server maintains.",
  spec: 'What you want: the desired state of the object.',
  status: 'What is: the state the system observed, written by controllers and agents.',

  'ObjectMeta.name': 'The name, unique among objects of this kind in the namespace. Lowercase letters, digits, - and ., starting and ending with a letter or digit.',
  'ObjectMeta.generateName': 'A prefix from which the server makes a unique name when name is empty.',
  'ObjectMeta.namespace': 'The namespace the object lives in; empty for cluster-wide kinds such as Node.',
  'ObjectMeta.labels': 'Key-value pairs that selectors match: Services, Deployments and kubectl -l use them to pick objects.',
  'ObjectMeta.annotations': 'Key-value pairs for tools and people; nothing selects by them.',
  'ObjectMeta.uid': 'Unique in time and space: a new object with the same name gets a new uid.',
  'ObjectMeta.resourceVersion': 'An opaque version the server changes on every write; send it back to update only what you read (optimistic concurrency) or to watch from that point.',
  'ObjectMeta.generation': 'A number the server increases each time the spec changes.',
  'ObjectMeta.creationTimestamp': 'When the server created the object.',
  'ObjectMeta.deletionTimestamp': 'When a graceful deletion ends; set once deletion has started.',
  'ObjectMeta.deletionGracePeriodSeconds': 'Seconds the object is given to stop after deletion starts.',
  'ObjectMeta.ownerReferences': 'The objects this one belongs to. When the owner is deleted, the garbage collector deletes it too.',
  'ObjectMeta.finalizers': 'Names of the cleanups that must finish before the server removes the object.',

  'LabelSelector.matchLabels': 'Labels an object must carry, each with exactly this value.',
  'LabelSelector.matchExpressions': 'Further requirements on labels: In, NotIn, Exists, DoesNotExist.',

  'PodSpec.containers': 'The containers of the pod. At least one; names are unique within the pod.',
  'PodSpec.initContainers': 'Containers that run one after another, each to completion, before the containers start.',
  'PodSpec.nodeName': 'The node the pod runs on. The scheduler sets it through the binding; setting it yourself skips the scheduler.',
  'PodSpec.nodeSelector': 'Labels a node must carry for the pod to be scheduled there, such as kubernetes.io/arch: arm64.',
  'PodSpec.restartPolicy': 'When the agent restarts a container that exited: Always (default), OnFailure or Never.',
  'PodSpec.terminationGracePeriodSeconds': 'Seconds a container gets between the stop signal and being killed. Default 30.',
  'PodSpec.tolerations': 'Taints of nodes this pod tolerates; an unreachable or not-ready node is tolerated for a short time before the pod is evicted.',
  'PodSpec.hostNetwork': "Run in the node's network namespace instead of the pod's own.",
  'PodSpec.schedulerName': 'The scheduler that places this pod.',
  'PodSpec.priority': 'The priority of the pod, from its priority class.',
  'PodSpec.dnsPolicy': 'How the pod resolves names: ClusterFirst sends them to the cluster DNS on its node.',

  'Container.name': 'The name of the container, unique within the pod.',
  'Container.image': 'The image to run, such as nginx:1.25. Boards pull it, or use a copy loaded while offline.',
  'Container.imagePullPolicy': 'Always, IfNotPresent or Never. Defaults to Always for :latest or no tag, else IfNotPresent.',
  'Container.command': "The entrypoint, replacing the image's; not run in a shell.",
  'Container.args': "Arguments to the entrypoint, replacing the image's CMD.",
  'Container.workingDir': 'The directory the command starts in.',
  'Container.stdin': 'Keep the container\'s standard input open for `kubectl attach` (`kubectl run -i`). Default false: reads get end of file.',
  'Container.stdinOnce': 'Close standard input when the first attached client lets go of it, so the command sees end of file. Default false.',
  'Container.tty': 'Give the container a terminal (`kubectl run -t`); needs stdin. Default false.',
  'Container.env': 'Environment variables to set in the container.',
  'Container.env.name': 'The name of the variable.',
  'Container.env.value': 'The value of the variable.',
  'Container.ports': 'Ports the container listens on. Informational, except that Services may name them.',
  'Container.ports.containerPort': 'The port number inside the pod.',
  'Container.ports.name': 'A name for the port that a Service targetPort can refer to.',
  'Container.ports.protocol': 'TCP (default) or UDP.',
  'Container.ports.hostPort': "A port of the node's own address that forwards to this one.",
  'Container.resources': 'CPU and memory the container requests (for scheduling) and may use at most (limits).',
  'Container.livenessProbe': 'A check that restarts the container when it fails.',
  'Container.readinessProbe': 'A check that decides whether the pod is Ready to get Service traffic.',
  'Container.startupProbe': 'A check that holds the other probes back until the container has started.',

  'Pod.status.phase': 'Pending, Running, Succeeded, Failed or Unknown: where the pod is in its life.',
  'Pod.status.conditions': 'PodScheduled, Initialized, ContainersReady and Ready, each True or False with a reason.',
  'Pod.status.podIP': 'The address of the pod on the cluster network.',
  'Pod.status.hostIP': 'The address of the node the pod runs on.',
  'Pod.status.containerStatuses': 'One entry per container: its state (waiting, running, terminated), restarts and image.',
  'Pod.status.startTime': 'When the agent accepted the pod.',

  'Node.spec.unschedulable': 'True when the node is cordoned: no new pods are scheduled on it.',
  'Node.spec.taints': 'Taints repel pods that do not tolerate them; the node lifecycle controller adds unreachable and not-ready taints.',
  'Node.spec.podCIDR': 'The range pod addresses on this node come from.',
  'Node.status.capacity': 'What the node has: cpu, memory, pods.',
  'Node.status.allocatable': 'What pods may use of the capacity.',
  'Node.status.conditions': 'Ready and pressure conditions, from the agent and the node lifecycle controller.',
  'Node.status.addresses': "The node's addresses (InternalIP, Hostname).",
  'Node.status.nodeInfo': "The board's architecture, operating system, kernel and container runtime.",
  'Node.status.images': 'Images the node has, so the scheduler can prefer a board that needs no pull.',

  'Deployment.spec.replicas': 'How many pods to run. Default 1.',
  'Deployment.spec.selector': 'Which pods belong to this Deployment. Must match the template labels and not change.',
  'Deployment.spec.template': 'The pod to run: every replica is made from it, and changing it starts a rollout.',
  'Deployment.spec.strategy': 'How pods are replaced: RollingUpdate (default) or Recreate.',
  'Deployment.spec.strategy.type': 'RollingUpdate replaces pods a few at a time; Recreate stops them all first.',
  'Deployment.spec.strategy.rollingUpdate': 'How fast a rolling update goes.',
  'Deployment.spec.strategy.rollingUpdate.maxSurge': 'How many pods above replicas may exist during a rollout: a count or a percentage. Default 25%.',
  'Deployment.spec.strategy.rollingUpdate.maxUnavailable': 'How many pods below replicas may be unavailable during a rollout: a count or a percentage. Default 25%.',
  'Deployment.spec.minReadySeconds': 'Seconds a new pod must be Ready before it counts as available.',
  'Deployment.spec.revisionHistoryLimit': 'How many old ReplicaSets to keep for rollbacks. Default 10.',
  'Deployment.spec.paused': 'While true, template changes do not start a rollout.',
  'Deployment.spec.progressDeadlineSeconds': 'Seconds a rollout may make no progress before it is reported as failed. Default 600.',
  'Deployment.status.replicas': 'Pods that exist, old and new.',
  'Deployment.status.updatedReplicas': 'Pods made from the current template.',
  'Deployment.status.readyReplicas': 'Pods that are Ready.',
  'Deployment.status.availableReplicas': 'Pods Ready for at least minReadySeconds.',
  'ReplicaSet.spec.replicas': 'How many pods to keep running. Default 1.',
  'ReplicaSet.spec.selector': 'Which pods belong to this ReplicaSet.',
  'ReplicaSet.spec.template': 'The pod to create when there are too few.',

  'Service.spec.type': 'ClusterIP (default): a virtual IP inside the cluster. NodePort: also a port on every board.',
  'Service.spec.selector': 'Labels of the pods that receive the traffic. Without one, you write the endpoints yourself.',
  'Service.spec.ports': 'The ports the Service offers.',
  'Service.spec.ports.port': 'The port of the Service.',
  'Service.spec.ports.targetPort': 'The port on the pods, a number or a container port name. Defaults to port.',
  'Service.spec.ports.nodePort': 'For NodePort Services: the port on every board, from 30000-32767 unless chosen.',
  'Service.spec.ports.protocol': 'TCP (default) or UDP.',
  'Service.spec.ports.name': 'A name for the port, needed when there are several.',
  'Service.spec.clusterIP': 'The virtual IP, allocated from the service range; None makes a headless Service (DNS answers with the pod addresses).',
  'Service.spec.sessionAffinity': 'ClientIP sends a client to the same pod each time; None (default) spreads connections.',

  'PodDisruptionBudget.spec.minAvailable': 'How many selected pods must stay available during evictions: a count or a percentage.',
  'PodDisruptionBudget.spec.maxUnavailable': 'How many selected pods may be unavailable during evictions: a count or a percentage of the replicas their controllers want.',
  'PodDisruptionBudget.spec.selector': 'The pods this budget protects. An empty selector selects every pod in the namespace.',
  'PodDisruptionBudget.spec.unhealthyPodEvictionPolicy': 'IfHealthyBudget (default): a pod that is not Ready may be evicted only while the budget is met. AlwaysAllow: always.',
  'PodDisruptionBudget.status.disruptionsAllowed': 'How many more pods may be evicted now.',
  'PodDisruptionBudget.status.currentHealthy': 'Selected pods that are Ready now.',
  'PodDisruptionBudget.status.desiredHealthy': 'Selected pods that must stay Ready.',
  'PodDisruptionBudget.status.expectedPods': 'How many pods the budget counts on.',

  'ConfigMap.data': 'Text values by key. Each key becomes a file name in a volume or can fill an environment variable.',
  'ConfigMap.binaryData': 'Binary values by key, base64-encoded. A key may be in data or binaryData, not both.',
  'ConfigMap.immutable': 'If true, data and binaryData can no longer change, and neither can this field.',
  'Secret.type': 'What the secret holds (Opaque by default); kubernetes.io/tls needs tls.crt and tls.key, kubernetes.io/dockerconfigjson needs .dockerconfigjson.',
  'Secret.data': 'Values by key, base64-encoded.',
  'Secret.stringData': 'Write-only plain-text values by key; the server encodes them into data and never stores this field.',
  'Secret.immutable': 'If true, data can no longer change, and neither can this field.',
  'Lease.spec.holderIdentity': 'Who holds the lease: for a node heartbeat, the node.',
  'Lease.spec.renewTime': 'When the holder last renewed it.',
  'Lease.spec.leaseDurationSeconds': 'How long the holder may go without renewing.',

  'Event.reason': 'A short CamelCase word for what happened, such as Scheduled or BackOff.',
  'Event.message': 'What happened, for people.',
  'Event.type': 'Normal or Warning.',
  'Event.involvedObject': 'The object the event is about.',
  'Event.count': 'How many times this event happened.',
};

/** Where a pod's spec sits in each kind that carries one. */
const podSpecAt: Record<string, string> = { Pod: 'spec', Deployment: 'spec.template.spec', ReplicaSet: 'spec.template.spec' };

/** The keys a field may be described under, most specific first. */
function candidates(kind: string, path: string): string[] {
  const out = [`${kind}.${path}`];
  const podSpec = podSpecAt[kind];
  if (podSpec && path.startsWith(`${podSpec}.`)) {
    const rest = path.slice(podSpec.length + 1);
    out.push(`PodSpec.${rest}`);
    const container = /^(?:containers|initContainers)\.(.+)$/.exec(rest);
    if (container) out.push(`Container.${container[1]}`);
  }
  const meta = /^(?:spec\.template\.)?metadata\.(.+)$/.exec(path);
  if (meta) out.push(`ObjectMeta.${meta[1]}`);
  const selector = /(?:^|\.)selector\.(.+)$/.exec(path);
  if (selector) out.push(`LabelSelector.${selector[1]}`);
  if (!path.includes('.')) out.push(path);
  return out;
}

export function kindDescription(kind: string): string | undefined {
  return kinds[kind];
}

/** The description of a field of a kind, by its dotted path (`spec.template.spec.containers.image`). */
export function fieldDescription(kind: string, path: string): string | undefined {
  for (const key of candidates(kind, path)) if (fields[key]) return fields[key];
  return undefined;
}
