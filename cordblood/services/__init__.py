"""Business rules of cord blood banking: the pages, the API and the tasks call these."""
