"""Running a function over a big dataset, batch by batch, with checkpoints a killed job resumes
from: ``local`` (this process) or ``ray`` (a Ray cluster, local or remote). A runner sees rows and
a batch function; it never knows what the function does."""
