"""The class lab: the lecture's microservice scenario built, checked and removed in one step."""
