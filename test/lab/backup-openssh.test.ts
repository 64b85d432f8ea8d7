// backup.test.ts's fleet backups and their failures over the system ssh client (ssh.transport: openssh):
// the same scenarios must pass on both transports.
process.env.IPA_FLEET_LAB_TRANSPORT = 'openssh';
await import('./backup.test.js');
