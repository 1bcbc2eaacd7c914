// The error the data functions throw: its message names the file or folder and the fix.
export class DatasetError extends Error {}
